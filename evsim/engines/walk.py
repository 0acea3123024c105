"""The one loop every engine runs: layers in topological order, each over all its steps
(layer-major), tensors freed once spent; the layers of a cycle (a recurrent group of the
spec, closed by a delayed edge) run step-major, all of them one step at a time.

Both orders give the same result because a kind gives the same output called once over S
steps or S times over one step with the same ``state`` dict (``evsim/kinds/base.py``). A
delayed input ``{from: p, delay: d}`` is p's output shifted by d steps (zeros for t < d).

Engines differ only in the step they call per layer (a kind's ``dense`` or ``event``
facet); they never branch on a kind's name.
"""
from __future__ import annotations

import numpy as np

from ..spec import INPUT_NAME
from ..stats import output_rate
from .run import Run, encode


def units(spec) -> list[tuple]:
    """The order of execution: each layer alone, or a recurrent group as one unit."""
    grouped = {name: group for group in spec.recurrent for name in group}
    out = []
    for name in spec.layers:
        group = grouped.get(name, (name,))
        if group[0] == name:
            out.append(group)
    return out


def last_uses(spec, order) -> dict:
    """{layer: index of the last unit that reads it} — to free tensors as soon as they are spent."""
    last = {}
    for k, unit in enumerate(order):
        for name in unit:
            for ref in spec.layers[name].inputs:
                last[ref] = k
    return last


def shifted(x, delay):
    """x delayed by ``delay`` steps along the leading axis, zeros first."""
    out = np.zeros_like(x)
    if delay < x.shape[0]:
        out[delay:] = x[:x.shape[0] - delay]
    return out


def walk(plan, x, step, before=None, done=None) -> tuple[dict, dict, dict]:
    """Run ``step(name, layer, inputs, state, steps) -> output`` for every layer; returns
    (outputs still held, spikes of every spiking layer, measured (elements, events, spikes)
    of every output). ``before(name, inputs)`` is called
    before each layer that runs layer-major (synthetic-weight calibration adjusts BatchNorm
    shifts there); ``done(name, layer, inputs, output)`` after each layer with all its steps
    (the dense engine's brute-force counts)."""
    outputs, spikes, activities = walk_batch(plan, [x], step, before, done)
    return outputs, spikes, activities[0]


def batchable(spec) -> bool:
    """Whether inputs can run together (:func:`walk_batch`): a feed-forward spec without delays."""
    return not spec.recurrent and not any(layer.delay(i) for layer in spec.layers.values()
                                          for i in range(len(layer.inputs)))


def split(a, batch) -> list:
    """[batch·S, ...] → ``batch`` views [S, ...] (the inputs' steps, in order)."""
    n = a.shape[0] // batch
    return [a[b * n:(b + 1) * n] for b in range(batch)]


def walk_batch(plan, xs, step, before=None, done=None) -> tuple[dict, dict, list]:
    """:func:`walk` over several inputs at once (throughput mode): their steps are concatenated
    along the leading axis, [B·S, ...]; a ``step_local`` kind (output at a step depends on the
    inputs at that step only) takes the whole batch in one call, so its weights are read once
    for all inputs; any other kind is called once per input with its own state, on that
    input's steps. Every kind therefore computes exactly what it computes for one input. Returns
    the outputs and spikes of the whole batch and one activity dict per input. A spec with
    recurrent groups or delays runs one input at a time (:func:`batchable`)."""
    spec = plan.spec
    batch = len(xs)
    if batch > 1 and not batchable(spec):
        raise ValueError("walk_batch: recurrent or delayed specs run one input at a time")
    outputs = {INPUT_NAME: np.concatenate([encode(spec, x, plan.dtype) for x in xs]) if batch > 1
               else encode(spec, xs[0], plan.dtype)}
    spikes = {}
    activities = [{} for _ in range(batch)]

    def measure(name, output):
        values = spec.values[name] if name != INPUT_NAME else spec.input.values
        measured = output_rate(output, values, batch) if batch > 1 else [output_rate(output, values)]
        for activity, counts in zip(activities, measured):
            activity[name] = counts

    measure(INPUT_NAME, outputs[INPUT_NAME])
    order = units(spec)
    last = last_uses(spec, order)
    for k, unit in enumerate(order):
        if len(unit) == 1 and unit[0] not in spec.recurrent_members:
            name = unit[0]
            layer = spec.layers[name]
            if name in plan.fused:  # folded into its producer: the producer's output is already normalised
                outputs[name] = outputs[plan.fused[name]]
            else:
                inputs = [shifted(outputs[r], layer.delay(i)) if layer.delay(i) else outputs[r]
                          for i, r in enumerate(layer.inputs)]
                if before is not None:
                    before(name, inputs)
                if batch == 1 or layer.step_local:
                    outputs[name] = step(name, layer, inputs, {}, slice(0, inputs[0].shape[0]))
                else:
                    n = inputs[0].shape[0] // batch
                    outputs[name] = np.concatenate([step(name, layer, list(parts), {}, slice(b * n, (b + 1) * n))
                                                    for b, parts in enumerate(zip(*(split(a, batch) for a in inputs)))])
                if done is not None:
                    done(name, layer, inputs, outputs[name])
        else:
            step_major(plan, unit, outputs, step, done)
        for name in unit:
            if spec.layers[name].spiking and name not in plan.fused:
                spikes[name] = outputs[name]
            if name in plan.fused:
                for activity in activities:
                    activity[name] = activity[plan.fused[name]]
            else:
                measure(name, outputs[name])
        for ref in [r for name in unit for r in spec.layers[name].inputs]:
            if last.get(ref) == k and ref != spec.output:  # a folded layer keeps its alias alive
                outputs.pop(ref, None)
    return outputs, spikes, activities


def step_major(plan, group, outputs, step, done) -> None:
    """Run a recurrent group one step at a time: at step t every layer reads its undelayed
    inputs at t and its delayed inputs at t − d."""
    spec = plan.spec
    T = spec.input.T
    for name in group:
        outputs[name] = np.zeros((T, *spec.shapes[name]), dtype=plan.dtype)
    states = {name: {} for name in group}
    for t in range(T):
        for name in group:
            layer = spec.layers[name]
            inputs = []
            for i, ref in enumerate(layer.inputs):
                source, d = outputs[ref], layer.delay(i)
                inputs.append(source[t - d:t - d + 1] if t >= d else np.zeros_like(source[:1]))
            outputs[name][t] = step(name, layer, inputs, states[name], slice(t, t + 1))[0]
    if done is not None:
        for name in group:
            layer = spec.layers[name]
            done(name, layer, [shifted(outputs[r], layer.delay(i)) for i, r in enumerate(layer.inputs)], outputs[name])


def finish(plan, outputs, spikes, stats, activity) -> Run:
    spec = plan.spec
    out = outputs[spec.output]
    if spec.output in spec.static:
        out = out[0]
    return Run(plan.engine, plan.dtype, out, spikes, stats, spec.name, spec.input.T, activity)
