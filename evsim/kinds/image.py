"""``image``: tokens back to an image, the inverse of ``tokens``: x[N = H·W, C] → y[C, H, W],

    y[c, i, j] = x[i·W + j, c]

A hierarchical transformer (QKFormer) runs its blocks on tokens and its next patch-embedding
stage on the image again (the official code's ``x.flatten(3)`` … ``reshape(T, B, C, H, W)``).
``height`` is H (W = N / H); without it the image is square.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..spec.layer import ShapeProblem, require_rank
from ..spec.registry import register
from .base import Passive


@register
@dataclass
class Image(Passive):
    step_local: ClassVar[bool] = True
    height: int | None = None
    kind: ClassVar[str] = "image"
    rate_rule: ClassVar[str] = "its input's rate"

    def __post_init__(self):
        if self.height is not None and (isinstance(self.height, bool) or not isinstance(self.height, int)
                                        or self.height < 1):
            raise ShapeProblem(f"'height' must be a positive int, got {self.height!r}")

    def output_shape(self, in_shapes):
        require_rank(in_shapes[0], (2,), "its input")
        n, c = in_shapes[0]
        h = self.height if self.height is not None else math.isqrt(n)
        if h * (n // h) != n or (self.height is None and h * h != n):
            raise ShapeProblem(f"{n} tokens do not form an image of height {h}" if self.height is not None
                               else f"{n} tokens are not a square image", fix="set 'height'")
        return (c, h, n // h)

    def output_values(self, in_values):
        return in_values[0]

    def dense(self, plan, inputs, state):
        x = inputs[0]
        S, N, C = x.shape
        c, h, w = self.output_shape([(N, C)])
        return np.ascontiguousarray(x.transpose(0, 2, 1).reshape(S, c, h, w))

    def output_rate(self, facts, in_rates):
        return in_rates[0]
