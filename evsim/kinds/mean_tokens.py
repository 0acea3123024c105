"""``mean_tokens``: mean over tokens, y[D] = (1/N) Σ_n x[n, D]."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..spec.layer import require_rank
from ..spec.registry import register
from .base import Passive


@register
@dataclass
class MeanTokens(Passive):
    step_local: ClassVar[bool] = True
    kind: ClassVar[str] = "mean_tokens"

    def output_shape(self, in_shapes):
        require_rank(in_shapes[0], (2,), "its input")
        return (in_shapes[0][1],)

    def dense(self, plan, inputs, state):
        return inputs[0].mean(axis=1)
