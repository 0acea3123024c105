"""The dense reference engine: clock-driven NumPy with SpikingJelly's exact semantics.

Each layer's kind computes its dense output over all T steps (SpikingJelly's multi-step
mode; a recurrent group one step at a time). Counts, when asked for, come from each kind's
brute-force ``count`` on the dense tensors — the independent reference for the event
engine's own counts.
"""
from __future__ import annotations

from ..stats import LayerStats, record_inputs
from .walk import finish, walk


def propagate(plan, x, before=None, count=True):
    """Run the network; returns (outputs still held, stats, spikes, measured output activity)."""
    stats = {}

    def step(name, layer, inputs, state, steps):
        return layer.dense(plan.layers[name], inputs, state)

    def done(name, layer, inputs, out):
        if count and layer.counted:
            facts = plan.facts[name]
            stats[name] = s = LayerStats.for_layer(facts, layer.kind, plan.weights[name])
            record_inputs(inputs, facts.in_values, s.counts)
            layer.count(plan.params.get(name, {}), inputs, out, facts, s.counts)

    outputs, spikes, activity = walk(plan, x, step, before, done)
    return outputs, stats, spikes, activity


def run(plan, x, strict_events: bool = False):
    """``strict_events`` has no effect here: the dense engine scatters no events."""
    outputs, stats, spikes, activity = propagate(plan, x)
    return finish(plan, outputs, spikes, stats, activity)


def run_batch(plan, xs, strict_events: bool = False):
    """One input at a time: the reference engine has no throughput mode."""
    return [run(plan, x) for x in xs]
