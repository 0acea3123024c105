"""``linear``: a linear map on the last axis, applied to every token.

    y[n] = W x[n] + b            (the official ImageNet code's Conv1d with kernel 1 is the same map)

Event step: each input event (token n, feature f) adds val · W[:, f] into y[n]. Every event
has fan-out D_out; there is no border, so exact = rate × dense for a linear layer.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..spec.layer import ShapeProblem, require_rank
from ..spec.registry import register
from . import kernels, synaptic
from .base import Kind


@register
@dataclass
class Linear(Kind):
    out_features: int = 0
    bias: bool = True
    kind: ClassVar[str] = "linear"
    foldable_into: ClassVar[bool] = True
    detail_keys: ClassVar[tuple] = synaptic.DETAIL_KEYS

    def __post_init__(self):
        if not isinstance(self.out_features, int) or self.out_features <= 0:
            raise ShapeProblem(f"'out_features' must be a positive int, got {self.out_features!r}")

    def output_shape(self, in_shapes):
        require_rank(in_shapes[0], (1, 2), "its input")
        return (*in_shapes[0][:-1], self.out_features)

    def parameter_shapes(self, in_shapes):
        shapes = {"weight": (self.out_features, in_shapes[0][-1])}
        if self.bias:
            shapes["bias"] = (self.out_features,)
        return shapes

    def dense_ops(self, in_shapes, out_shape):
        return math.prod(in_shapes[0]) * self.out_features

    def synapses(self, in_shapes, out_shape):
        return self.dense_ops(in_shapes, out_shape)

    def prepare(self, params, dtype, facts, engine):
        plan = {"weight": np.asarray(params["weight"], dtype=dtype), "bias": synaptic.bias_of(params, dtype),
                "facts": facts}
        if engine == "event":
            weight_t = np.ascontiguousarray(plan["weight"].T)  # [D_in, D_out]: one row per input feature
            plan.update(weight_t=weight_t, nonzero_rows=np.count_nonzero(weight_t, axis=1).astype(np.int64))
        return plan

    def dense(self, plan, inputs, state):
        x = inputs[0]
        out = x @ plan["weight"].T
        if plan["bias"] is not None:
            out = out + plan["bias"]
        return out.astype(x.dtype, copy=False)

    def event(self, plan, inputs, state, counts, steps):
        x = inputs[0]
        facts = plan["facts"]
        out = np.empty((*x.shape[:-1], self.out_features), dtype=x.dtype)
        for s, t in enumerate(range(steps.start, steps.stop)):
            rows = x[s].reshape(-1, x.shape[-1])
            index, values, starts = synaptic.grouped_events(rows.reshape(-1), rows.shape[1], rows.shape[0])
            acc = np.zeros((rows.shape[0], self.out_features), dtype=x.dtype)
            kernels.row_gather(index, values, starts, plan["weight_t"], acc)
            synaptic.record(counts, t, *kernels.row_event_counts(index, values, plan["nonzero_rows"], self.out_features),
                            facts, plan["bias"] is not None)
            out[s] = acc.reshape(out.shape[1:])
        if plan["bias"] is not None:
            out += plan["bias"]
        if x.ndim == 3:
            counts["tokens"][steps] = x.shape[1]
        return out

    def count(self, params, inputs, output, facts, counts):
        x = inputs[0]
        fan = np.full(x.shape[-1], self.out_features, dtype=np.int64)
        synaptic.count(x, fan, np.count_nonzero(params["weight"], axis=0), facts, "bias" in params, counts)
        if x.ndim == 3:
            counts["tokens"][:] = x.shape[1]

    def detail(self, stats, facts):
        return synaptic.detail(stats, facts)

    def expected(self, facts, in_rates, out_rate, counts):
        synaptic.expected(facts, in_rates[0], out_rate, counts)
        if len(facts.in_shapes[0]) == 2:
            counts["tokens"][:] = facts.in_shapes[0][0]
