"""The event-driven engine: each layer's output spikes are its consumers' events; each
event scatters its weight row (or conv kernel) into its targets' input currents, neurons
update, new spikes go on to the next consumers — only spike work, done once, with exact
counts recorded as it goes (each kind's ``event`` facet).

A feed-forward spec runs layer-major: a layer takes all T steps of its input in one call
(every event of step t reaches its targets at step t, as in the step-major order, so the
spikes are the same); the layers of a cycle run step-major (``walk.step_major``). Spikes and outputs equal the
dense engine's (float64: identical spikes; see tests/test_event_engine.py for float32).
"""
from __future__ import annotations

from ..stats import LayerStats, record_inputs
from .walk import finish, walk


def run(plan, x):
    stats = {}

    def step(name, layer, inputs, state, steps):
        facts = plan.facts[name]
        if name not in stats:
            stats[name] = LayerStats.for_layer(facts, layer.kind, plan.weights[name])
        counts = stats[name].counts
        if layer.counted:
            record_inputs(inputs, facts.in_values, counts, steps)
        return layer.event(plan.layers[name], inputs, state, counts, steps)

    outputs, spikes, activity = walk(plan, x, step)
    counted = {name: s for name, s in stats.items() if plan.spec.layers[name].counted}
    return finish(plan, outputs, spikes, counted, activity)
