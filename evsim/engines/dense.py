"""The dense reference engine: clock-driven NumPy with SpikingJelly's exact semantics.

Layer-major like SpikingJelly's multi-step mode: each layer runs over all T steps before
its consumers (valid because a spec is feed-forward). Simple and obviously right; the
oracle the other engines are checked against.
"""
from __future__ import annotations

import numpy as np

from ..spec import INPUT_NAME
from . import ops
from .counting import count_layer
from .run import Run, encode


def last_uses(spec) -> dict:
    """{layer: the last layer that reads it} — to free tensors as soon as they are spent."""
    last = {}
    for name, layer in spec.layers.items():
        for ref in layer.inputs:
            last[ref] = name
    return last


def propagate(network, x, dtype=np.float64, before=None, count=True):
    """Run the network layer by layer; returns (outputs still held, stats, spikes).

    ``before(name, inputs)`` is called before each layer (synthetic-weight calibration
    adjusts BatchNorm shifts there)."""
    spec, params, fused = network.spec, network.execution_params, network.fused
    outputs = {INPUT_NAME: encode(spec, x, dtype)}
    stats, spikes = {}, {}
    last = last_uses(spec)
    for name, layer in spec.layers.items():
        if name in fused:  # BatchNorm folded into its producer: the producer's output is already normalised
            outputs[name] = outputs[fused[name]]
        else:
            inputs = [outputs[i] for i in layer.inputs]
            if before is not None:
                before(name, inputs)
            outputs[name] = ops.forward(layer, params.get(name, {}), inputs)
            if count and layer.kind != "mean_time":  # nothing to count in a mean over T
                stats[name] = count_layer(spec, name, params.get(name, {}), inputs, outputs[name])
            if layer.spiking:
                spikes[name] = outputs[name]
        for ref in layer.inputs:
            if last.get(ref) == name and ref != spec.output:  # a folded BN keeps its alias alive
                outputs.pop(ref, None)
    return outputs, stats, spikes


def run(network, x, dtype=np.float64) -> Run:
    outputs, stats, spikes = propagate(network, x, dtype)
    spec = network.spec
    out = outputs[spec.output]
    if spec.output in spec.static:
        out = out[0]
    return Run("dense", np.dtype(dtype), out, spikes, stats, spec.name, spec.input.T)
