"""``mean_time``: mean over time steps, y = (1/T) Σ_t x[t]. Everything downstream runs once
per inference (one step). No countable work: it has no LayerStats."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..spec.registry import register
from .base import Passive


@register
@dataclass
class MeanTime(Passive):
    kind: ClassVar[str] = "mean_time"
    static: ClassVar[bool] = True
    counted: ClassVar[bool] = False

    def dense(self, plan, inputs, state):
        return inputs[0].mean(axis=0, keepdims=True)
