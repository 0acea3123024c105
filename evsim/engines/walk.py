"""The one loop every engine runs: layers in topological order, each over all its steps
(layer-major, valid because a spec is feed-forward), tensors freed once spent.

Engines differ only in the step they call per layer (a kind's ``dense`` or ``event``
facet); they never branch on a kind's name.
"""
from __future__ import annotations

from ..spec import INPUT_NAME
from ..stats import output_rate
from .run import Run, encode


def last_uses(spec) -> dict:
    """{layer: the last layer that reads it} — to free tensors as soon as they are spent."""
    last = {}
    for name, layer in spec.layers.items():
        for ref in layer.inputs:
            last[ref] = name
    return last


def walk(plan, x, step, before=None) -> tuple[dict, dict, dict]:
    """Run ``step(name, layer, inputs) -> output`` for every layer; returns (outputs still
    held, spikes of every spiking layer, measured (elements, events, spikes) of every output).
    ``before(name, inputs)`` is called before each layer (synthetic-weight calibration
    adjusts BatchNorm shifts there)."""
    spec = plan.spec
    outputs = {INPUT_NAME: encode(spec, x, plan.dtype)}
    spikes = {}
    activity = {INPUT_NAME: output_rate(outputs[INPUT_NAME], spec.input.values)}
    last = last_uses(spec)
    for name, layer in spec.layers.items():
        if name in plan.fused:  # folded into its producer: the producer's output is already normalised
            outputs[name] = outputs[plan.fused[name]]
            activity[name] = activity[plan.fused[name]]
        else:
            inputs = [outputs[i] for i in layer.inputs]
            if before is not None:
                before(name, inputs)
            outputs[name] = step(name, layer, inputs)
            activity[name] = output_rate(outputs[name], spec.values[name])
            if layer.spiking:
                spikes[name] = outputs[name]
        for ref in layer.inputs:
            if last.get(ref) == name and ref != spec.output:  # a folded layer keeps its alias alive
                outputs.pop(ref, None)
    return outputs, spikes, activity


def finish(plan, outputs, spikes, stats, activity) -> Run:
    spec = plan.spec
    out = outputs[spec.output]
    if spec.output in spec.static:
        out = out[0]
    return Run(plan.engine, plan.dtype, out, spikes, stats, spec.name, spec.input.T, activity)
