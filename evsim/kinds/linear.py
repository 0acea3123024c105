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
    step_local: ClassVar[bool] = True
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
            nonzero_rows = np.count_nonzero(weight_t, axis=1).astype(np.int64)
            tokens = math.prod(facts.in_shapes[0][:-1])  # per-element fan-outs of one step, for counting while extracting
            plan.update(weight_t=weight_t, fan=np.full(tokens * weight_t.shape[0], self.out_features, dtype=np.int64),
                        fan_nonzero=np.tile(nonzero_rows, tokens))
        return plan

    def dense(self, plan, inputs, state):
        x = inputs[0]
        out = x @ plan["weight"].T
        if plan["bias"] is not None:
            out = out + plan["bias"]
        return out.astype(x.dtype, copy=False)

    def event(self, plan, inputs, state, counts, steps):
        """All S steps in one pass: their events extracted and counted together, then one
        register-blocked scatter over the S·N token rows."""
        x = inputs[0]
        d_in = x.shape[-1]
        rows = np.ascontiguousarray(x).reshape(x.shape[0], -1)
        index, values, starts, step_counts = kernels.counted_events(rows, d_in, plan["fan"], plan["fan_nonzero"])
        out = np.empty((rows.size // d_in, self.out_features), dtype=x.dtype)
        kernels.blocked_rows(index, values, starts, plan["weight_t"], out, synaptic.all_ones(values))
        synaptic.record_steps(counts, steps, step_counts, plan["facts"], plan["bias"] is not None)
        out = out.reshape(*x.shape[:-1], self.out_features)
        if plan["bias"] is not None:
            out += plan["bias"]
        if x.ndim == 3:
            counts["tokens"][steps] = x.shape[1]
        return out

    def event_dense(self, plan, inputs, state, counts, steps):
        """BLAS output (the dense engine's own arithmetic), counts from the events."""
        x = inputs[0]
        rows = np.ascontiguousarray(x).reshape(x.shape[0], -1)
        *_, step_counts = kernels.counted_events(rows, x.shape[-1], plan["fan"], plan["fan_nonzero"])
        synaptic.record_steps(counts, steps, step_counts, plan["facts"], plan["bias"] is not None)
        if x.ndim == 3:
            counts["tokens"][steps] = x.shape[1]
        return Linear.dense(self, plan, inputs, state)

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
