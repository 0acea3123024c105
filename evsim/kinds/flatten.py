"""``flatten``: one step's tensor as a vector (C order)."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from ..spec.registry import register
from .base import Passive


@register
@dataclass
class Flatten(Passive):
    step_local: ClassVar[bool] = True
    kind: ClassVar[str] = "flatten"
    rate_rule: ClassVar[str] = "its input's rate"

    def output_shape(self, in_shapes):
        return (math.prod(in_shapes[0]),)

    def output_values(self, in_values):
        return in_values[0]

    def dense(self, plan, inputs, state):
        x = inputs[0]
        return x.reshape(x.shape[0], -1).copy()

    def output_rate(self, facts, in_rates):
        return in_rates[0]
