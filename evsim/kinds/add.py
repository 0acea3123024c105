"""``add``: residual sum y = Σ_i x_i. Spikes plus spikes give integer spike counts
(SEW-style), so the consumers of a residual stream see small integers, not binary values.

Expected rates, inputs taken as independent: an element is an event with probability
1 − Π(1 − e_i) and carries Σ s_i spikes on average (an analog sum: events as well, its
spikes equal to its events; all nonzero when an input is analog everywhere).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from ..spec.layer import ANALOG, INTEGER, ShapeProblem
from ..spec.registry import register
from ..stats import ANALOG_RATE, Rate
from .base import Passive


@register
@dataclass
class Add(Passive):
    step_local: ClassVar[bool] = True
    kind: ClassVar[str] = "add"
    rate_rule: ClassVar[str] = "inputs independent: events 1 − Π(1 − e_i), spikes Σ s_i"
    arity: ClassVar[int | None] = None

    def output_shape(self, in_shapes):
        if len(set(in_shapes)) != 1:
            raise ShapeProblem(f"all inputs must have one shape, got {[list(s) for s in in_shapes]}")
        return in_shapes[0]

    def output_values(self, in_values):
        return ANALOG if ANALOG in in_values else INTEGER

    def dense(self, plan, inputs, state):
        out = inputs[0].copy()
        for other in inputs[1:]:
            out += other
        return out

    def output_rate(self, facts, in_rates):
        events = 1 - math.prod(1 - r.events for r in in_rates)
        if facts.out_values != INTEGER:
            return ANALOG_RATE if events >= 1 else Rate(events, events)
        return Rate(events, sum(r.spikes for r in in_rates))
