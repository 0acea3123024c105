"""The event-driven engine: at each time step, each layer's output spikes are events,
delivered in topological order to the consumer layers, whose kernels scatter each event's
weight row into their targets; neurons update; new spikes go on to the next consumers.

Layers after a mean over time run once, after the last step. Spikes and outputs equal the
dense engine's (float64: identical spikes; see tests/test_event_engine.py for float32).
"""
from __future__ import annotations

import math
import os

import numpy as np

from ...errors import MemoryBudgetError
from ...spec import INPUT_NAME
from ...stats import LayerStats
from .. import ops
from ..run import Run, encode
from . import layers as event_layers


def physical_memory_bytes() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 8 << 30


def memory_estimate(spec, dtype) -> int:
    """Bytes a run holds: recorded spikes of every spiking layer over T, one step of every
    layer's activations, and the weights twice (file form and transposed)."""
    itemsize = np.dtype(dtype).itemsize
    spikes = sum(math.prod(spec.shapes[n]) * spec.steps(n) for n, l in spec.layers.items() if l.spiking)
    activations = sum(math.prod(s) for s in spec.shapes.values())
    weights = sum(math.prod(shape) for shapes in spec.parameter_shapes().values() for shape in shapes.values())
    return (spikes + 2 * activations + 2 * weights) * itemsize


def run(network, x, dtype=np.float64, memory_budget_bytes=None) -> Run:
    spec, params, fused = network.spec, network.execution_params, network.fused
    budget = memory_budget_bytes or int(0.8 * physical_memory_bytes())
    need = memory_estimate(spec, dtype)
    if need > budget:
        raise MemoryBudgetError(f"this run needs about {need / 2**30:.1f} GiB, over the budget of {budget / 2**30:.1f} GiB",
                                file=spec.path, fix="use a smaller input size or T, or raise memory_budget_bytes")
    xs = encode(spec, x, dtype)
    T = spec.input.T
    prepared, info = _prepared(network, dtype), _layer_info(network)
    stats, spikes = {}, {}
    for name, layer in spec.layers.items():
        if name in fused:
            continue
        stats[name] = LayerStats.for_layer(spec, name, params.get(name, {}))
        if layer.spiking:
            spikes[name] = np.empty((spec.steps(name), *spec.shapes[name]), dtype=dtype)
    state: dict = {}
    per_step = [n for n in spec.layers if n not in spec.static]
    once = [n for n in spec.layers if n in spec.static]
    gathered = {n: [] for n in once if spec.layers[n].kind == "mean_time"}
    output_steps = []
    for t in range(T):
        current = {INPUT_NAME: xs[t]}
        for name in per_step:
            _step(spec, name, current, fused, prepared, info, stats, spikes, state, t)
        for name in gathered:
            gathered[name].append(current[spec.layers[name].inputs[0]])
        if spec.output not in spec.static:
            output_steps.append(current[spec.output])
    current = {spec.output: np.stack(output_steps)} if output_steps else {}
    for name in once:
        if name in gathered:  # the mean over time: the same dense reduction the reference uses
            layer = spec.layers[name]
            current[name] = ops.forward(layer, {}, [np.stack(gathered[name])])[0]
            continue
        _step(spec, name, current, fused, prepared, info, stats, spikes, state, 0)
    stats = {n: s for n, s in stats.items() if spec.layers[n].kind != "mean_time"}
    return Run("event", np.dtype(dtype), current[spec.output], spikes, stats, spec.name, T)


def _prepared(network, dtype):
    """Transposed weights and nonzero counts, made once per network and dtype."""
    key = ("event", np.dtype(dtype).str)
    if key not in network.engine_cache:
        network.engine_cache[key] = {
            name: event_layers.prepare(layer, network.execution_params.get(name, {}), dtype)
            for name, layer in network.spec.layers.items() if name not in network.fused}
    return network.engine_cache[key]


def _layer_info(network):
    """Per-layer facts of the spec the kernels and counters need, made once per network."""
    if "event-info" not in network.engine_cache:
        spec = network.spec
        network.engine_cache["event-info"] = {
            name: {"out_shape": spec.shapes[name], "in_values": spec.in_values(name)[0],
                   "dense_macs": spec.dense_ops(name),
                   "dense_synaptic_ops": layer.synapses(spec.in_shapes(name), spec.shapes[name])}
            for name, layer in spec.layers.items() if name not in network.fused}
    return network.engine_cache["event-info"]


def _step(spec, name, current, fused, prepared, info, stats, spikes, state, t):
    if name in fused:
        current[name] = current[fused[name]]
        return
    layer = spec.layers[name]
    inputs = [current[i] for i in layer.inputs]
    counts = stats[name].counts
    if layer.kind not in event_layers.EXTRACTS_EVENTS:
        event_layers.count_inputs(inputs, info[name]["in_values"], counts, t)
    out = event_layers.step_function(layer.kind)(layer, prepared[name], inputs, state, counts, t, info[name])
    current[name] = out
    if layer.spiking:
        spikes[name][t] = out
