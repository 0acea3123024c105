"""``tokens``: image to tokens, x[C, H, W] → y[N = H·W, C], token n = i·W + j."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..spec.layer import require_rank
from ..spec.registry import register
from .base import Passive


@register
@dataclass
class Tokens(Passive):
    step_local: ClassVar[bool] = True
    kind: ClassVar[str] = "tokens"
    rate_rule: ClassVar[str] = "its input's rate"

    def output_shape(self, in_shapes):
        require_rank(in_shapes[0], (3,), "its input")
        c, h, w = in_shapes[0]
        return (h * w, c)

    def output_values(self, in_values):
        return in_values[0]

    def dense(self, plan, inputs, state):
        x = inputs[0]
        S, C, H, W = x.shape
        return np.ascontiguousarray(x.reshape(S, C, H * W).transpose(0, 2, 1))

    def output_rate(self, facts, in_rates):
        return in_rates[0]
