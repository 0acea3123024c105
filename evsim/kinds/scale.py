"""``scale``: NIR's Scale node, an element-wise gain y = s ⊙ x (s from the weights, the
shape of one step's input). An input event x_i ≠ 0 costs one multiplication (fan-out 1).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..spec.registry import register
from .base import Kind, per_step


@register
@dataclass
class Scale(Kind):
    step_local: ClassVar[bool] = True
    kind: ClassVar[str] = "scale"

    def parameter_shapes(self, in_shapes):
        return {"scale": tuple(in_shapes[0])}

    def initial_params(self, shapes, rng):
        return {key: np.ones(shape) for key, shape in shapes.items()}

    def dense_ops(self, in_shapes, out_shape):
        return math.prod(in_shapes[0])

    def synapses(self, in_shapes, out_shape):
        return math.prod(in_shapes[0])

    def dense(self, plan, inputs, state):
        return (inputs[0] * plan["scale"]).astype(inputs[0].dtype, copy=False)

    def event(self, plan, inputs, state, counts, steps):
        active = np.count_nonzero(per_step(inputs[0]), axis=1)
        nonzero = np.count_nonzero(per_step(inputs[0] * (plan["scale"] != 0)), axis=1)
        self._record(counts, steps, active, nonzero, plan["scale"].size)
        return self.dense(plan, inputs, state)

    def count(self, params, inputs, output, facts, counts):
        active = per_step(inputs[0] != 0)
        self._record(counts, slice(None), active.sum(axis=1), (active & (params["scale"] != 0).reshape(1, -1)).sum(axis=1),
                     facts.out_elements)

    @staticmethod
    def _record(counts, steps, events, nonzero, size):
        counts["synaptic_events"][steps] = events
        counts["weighted_synaptic_events"][steps] = events
        counts["synaptic_events_nonzero"][steps] = nonzero
        counts["dense_synaptic_ops"][steps] = size
        counts["dense_macs"][steps] = size

    def expected(self, facts, in_rates, out_rate, counts):
        n = facts.out_elements
        for key in ("synaptic_events", "weighted_synaptic_events", "synaptic_events_nonzero"):
            counts[key][:] = in_rates[0].events * n
        counts["dense_synaptic_ops"][:] = n
        counts["dense_macs"][:] = n
