"""``threshold``: NIR's Threshold node, a stateless spike generator.

    S[t] = [X[t] > θ]        (strict; ``per_neuron: true`` takes θ per element from the weights)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..spec.layer import BINARY
from ..spec.registry import register
from .base import Kind, per_step


@register
@dataclass
class Threshold(Kind):
    step_local: ClassVar[bool] = True
    threshold: float = 0.0
    per_neuron: bool = False
    kind: ClassVar[str] = "threshold"
    spiking: ClassVar[bool] = True
    rate_is_declared: ClassVar[bool] = True

    def output_values(self, in_values):
        return BINARY

    def parameter_shapes(self, in_shapes):
        return {"threshold": tuple(in_shapes[0])} if self.per_neuron else {}

    def initial_params(self, shapes, rng):
        return {key: np.full(shape, self.threshold) for key, shape in shapes.items()}

    def prepare(self, params, dtype, facts, engine):
        return {"threshold": np.asarray(params.get("threshold", self.threshold), dtype=dtype)}

    def dense(self, plan, inputs, state):
        x = inputs[0]
        return (x > plan["threshold"]).astype(x.dtype)

    def event(self, plan, inputs, state, counts, steps):
        out = self.dense(plan, inputs, state)
        counts["output_spikes"][steps] = np.count_nonzero(per_step(out), axis=1)
        return out

    def count(self, params, inputs, output, facts, counts):
        counts["output_spikes"][:] = per_step(output != 0).sum(axis=1)

    def expected(self, facts, in_rates, out_rate, counts):
        counts["output_spikes"][:] = out_rate.spikes * facts.out_elements
