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

from ..stats import LayerStats, record_inputs
from .walk import finish, walk

# Above this input density, sgemm beats the register-blocked scatter on this project's
# reference machine (benchmarks/roofline.py: time ratio ≈ density × sgemm's rate ÷ the
# kernel's; the crossover measured there is 25–35 % for Spikformer's shapes).
DENSE_INPUTS_ABOVE = 0.30


def input_density(counts, steps) -> float:
    elements = counts["input_elements"][steps].sum()
    return float(counts["input_events"][steps].sum() / elements) if elements else 0.0


def run(plan, x, strict_events: bool = False):
    stats = {}
    execution = {}

    def step(name, layer, inputs, state, steps):
        facts = plan.facts[name]
        if name not in stats:
            stats[name] = LayerStats.for_layer(facts, layer.kind, plan.weights[name])
        counts = stats[name].counts
        if layer.counted:
            record_inputs(inputs, facts.in_values, counts, steps)
            if not strict_events and input_density(counts, steps) > DENSE_INPUTS_ABOVE:
                out = layer.event_dense(plan.layers[name], inputs, state, counts, steps)
                if out is not None:
                    execution[name] = "dense"
                    return out
        execution.setdefault(name, "events")
        return layer.event(plan.layers[name], inputs, state, counts, steps)

    outputs, spikes, activity = walk(plan, x, step)
    counted = {name: s for name, s in stats.items() if plan.spec.layers[name].counted}
    result = finish(plan, outputs, spikes, counted, activity)
    result.execution = execution
    return result
