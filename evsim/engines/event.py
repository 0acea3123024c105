"""The event-driven engine: each layer's output spikes are its consumers' events; each
event scatters its weight row (or conv kernel) into its targets' input currents, neurons
update, new spikes go on to the next consumers — only spike work, done once, with exact
counts recorded as it goes (each kind's ``event`` facet).

A feed-forward spec runs layer-major: a layer takes all T steps of its input in one call
(every event of step t reaches its targets at step t, as in the step-major order, so the
spikes are the same); the layers of a cycle run step-major (``walk.step_major``). Spikes and outputs equal the
dense engine's (float64: identical spikes; see tests/test_event_engine.py for float32).

Dense inputs. A layer whose measured input density (events ÷ input elements over the steps
of the call) exceeds ``DENSE_INPUTS_ABOVE`` and whose kind has an ``event_dense`` path
computes its output densely through BLAS — the dense engine's arithmetic, so the spikes stay
identical — while its counts still come from its events. ``strict_events=True`` turns this
off: every layer scatters its events. ``Run.execution`` says which path each layer took.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from ..kinds.base import Kind
from ..stats import LayerStats, record_inputs
from .walk import batchable, finish, split, walk, walk_batch

# Above this input density, sgemm beats the register-blocked scatter on this project's
# reference machine (benchmarks/roofline.py: time ratio ≈ density × sgemm's rate ÷ the
# kernel's; the crossover measured there is 25–35 % for Spikformer's shapes).
DENSE_INPUTS_ABOVE = 0.30


def input_density(counts, steps) -> float:
    elements = counts["input_elements"][steps].sum()
    return float(counts["input_events"][steps].sum() / elements) if elements else 0.0


def has_dense_path(layer) -> bool:
    return type(layer).event_dense is not Kind.event_dense


def dense_threshold(layer) -> float:
    """The input density above which ``layer`` computes through BLAS: its kind's, or the engine's."""
    return DENSE_INPUTS_ABOVE if layer.dense_inputs_above is None else layer.dense_inputs_above


def event_step(plan, stats, executions, strict_events, batch=1):
    """The engine's step for :mod:`.walk`: a kind's ``event`` facet, recording into ``stats``
    (per layer, ``batch`` inputs' steps end to end) and, per input, into ``executions[b]``
    which path the layer took. The dense-input choice is made per input (on that input's
    steps), as a run of that input alone makes it; a batched call whose inputs all choose
    events stays one call."""
    def step(name, layer, inputs, state, steps):
        facts = plan.facts[name]
        if name not in stats:
            stats[name] = LayerStats.for_layer(facts, layer.kind, plan.weights[name], steps=facts.steps * batch)
        counts = stats[name].counts
        if not layer.counted:
            for execution in executions:
                execution.setdefault(name, "events")
            return layer.event(plan.layers[name], inputs, state, counts, steps)
        per_input = facts.steps  # a counted layer's steps per input (one step at a time in a cycle)
        parts = [slice(start, min(start + per_input, steps.stop)) for start in range(steps.start, steps.stop, per_input)]
        record_inputs(inputs, facts.in_values, counts, steps)
        dense = [not strict_events and has_dense_path(layer) and input_density(counts, part) > dense_threshold(layer)
                 for part in parts]
        for part, dense_part in zip(parts, dense):
            executions[part.start // per_input].setdefault(name, "dense" if dense_part else "events")
        if not any(dense):
            return layer.event(plan.layers[name], inputs, state, counts, steps)
        outs = []
        for part, dense_part in zip(parts, dense):
            mine = [a[part.start - steps.start:part.stop - steps.start] for a in inputs]
            facet = layer.event_dense if dense_part else layer.event
            outs.append(facet(plan.layers[name], mine, state, counts, part))
        return outs[0] if len(outs) == 1 else np.concatenate(outs)
    return step


def run(plan, x, strict_events: bool = False):
    stats, executions = {}, [{}]
    outputs, spikes, activity = walk(plan, x, event_step(plan, stats, executions, strict_events))
    counted = {name: s for name, s in stats.items() if plan.spec.layers[name].counted}
    result = finish(plan, outputs, spikes, counted, activity)
    result.execution = executions[0]
    return result


def run_batch(plan, xs, strict_events: bool = False) -> list:
    """Throughput mode: the inputs ``xs`` run together (``walk_batch``: a step-local layer's
    weights serve every input's events in one call), one Run per input equal to its own
    ``run`` — the same arithmetic per output element, so float64 spikes, outputs and every
    count are identical, in float32 too: the dense-input choice is made per input, and a layer
    that goes through BLAS for an input does so on that input's steps alone (BLAS may round a
    product differently for another number of rows). A recurrent or delayed spec runs input
    by input."""
    if len(xs) == 1 or not batchable(plan.spec):
        return [run(plan, x, strict_events) for x in xs]
    stats, executions = {}, [{} for _ in xs]
    outputs, spikes, activities = walk_batch(plan, xs, event_step(plan, stats, executions, strict_events, len(xs)))
    counted = {name: s for name, s in stats.items() if plan.spec.layers[name].counted}
    batch = len(xs)
    counts = {name: {f: split(c, batch) for f, c in s.counts.items()} for name, s in counted.items()}
    spike_parts = {name: split(a, batch) for name, a in spikes.items()}
    output_parts = split(outputs[plan.spec.output], batch)
    runs = []
    for b, activity in enumerate(activities):
        mine = {name: dataclasses.replace(s, counts={f: parts[b].copy() for f, parts in counts[name].items()})
                for name, s in counted.items()}
        result = finish(plan, {plan.spec.output: output_parts[b]}, {name: parts[b] for name, parts in spike_parts.items()},
                        mine, activity)
        result.execution = executions[b]
        runs.append(result)
    return runs
