"""``attention``: spiking self-attention without softmax, per head h and time step.

    y_h = s · Q_h K_hᵀ V_h,   Q, K, V ∈ {0,1}^{N×d},  d = D/heads

``order: qk_first`` computes (Q Kᵀ) then ·V (an N×N intermediate, the CIFAR code);
``kv_first`` computes Kᵀ V then Q· (d×d, the ImageNet code). Same function, different
operation counts: 2·N²·D versus 2·N·D·d per step.

Event step, qk_first: every (q token, k token) pair spiking on one feature is a coincidence
adding 1 to a score; each nonzero score S[n, m] scatters V's row m (d additions, counted
value-weighted by the score). kv_first: every (k feature, v feature) pair spiking in one
token adds 1 to M = KᵀV; each q spike (n, i) scatters row M[i, :].
Integer products are formed first and scaled last, so both orders are exact.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..spec.layer import ShapeProblem, require_rank
from ..spec.registry import register
from . import kernels
from .base import Kind

ORDERS = ("qk_first", "kv_first")


@register
@dataclass
class Attention(Kind):
    heads: int = 1
    scale: float = 0.125
    order: str = "qk_first"
    kind: ClassVar[str] = "attention"
    arity: ClassVar[int | None] = 3

    def __post_init__(self):
        if self.order not in ORDERS:
            raise ShapeProblem(f"'order' must be qk_first or kv_first, got {self.order!r}")
        if not isinstance(self.heads, int) or self.heads < 1:
            raise ShapeProblem(f"'heads' must be a positive int, got {self.heads!r}")

    def output_shape(self, in_shapes):
        for s in in_shapes:
            require_rank(s, (2,), "q, k, v")
        if len(set(in_shapes)) != 1:
            raise ShapeProblem(f"q, k and v must have one shape, got {[list(s) for s in in_shapes]}")
        if in_shapes[0][1] % self.heads:
            raise ShapeProblem(f"{in_shapes[0][1]} features are not divisible into {self.heads} heads")
        return in_shapes[0]

    def dense_ops(self, in_shapes, out_shape):
        n, d_model = in_shapes[0]
        if self.order == "qk_first":
            return 2 * n * n * d_model
        return 2 * n * (d_model // self.heads) * d_model

    def synapses(self, in_shapes, out_shape):
        """Every pair of both products, active or not: the dense count (= dense_ops)."""
        return self.dense_ops(in_shapes, out_shape)

    def ann_macs(self, in_shapes, out_shape):
        """The same block as an ANN: softmax attention, Q Kᵀ then A V, 2·N²·D MACs whatever the order."""
        n, width = in_shapes[0]
        return 2 * n * n * width

    def workspace_elements(self, in_shapes, out_shape, steps, engine):
        """The intermediate product of every head over the steps ([S, h, N, N] or [S, h, d, d])
        and the integer copies of q, k, v the event step makes."""
        n, width = in_shapes[0]
        d = width // self.heads
        inner = n * n if self.order == "qk_first" else d * d
        return steps * self.heads * inner * (2 if engine == "dense" else 1) + 4 * n * width

    def prepare(self, params, dtype, facts, engine):
        return {"facts": facts}

    def _heads(self, a):
        """[S, N, D] → [S, heads, N, d]."""
        S, N, D = a.shape
        return a.reshape(S, N, self.heads, D // self.heads).transpose(0, 2, 1, 3)

    def dense(self, plan, inputs, state):
        q, k, v = (self._heads(a) for a in inputs)
        if self.order == "qk_first":
            out = (q @ k.transpose(0, 1, 3, 2)) @ v
        else:
            out = q @ (k.transpose(0, 1, 3, 2) @ v)
        S, N, D = inputs[0].shape
        return np.ascontiguousarray((out * self.scale).transpose(0, 2, 1, 3).reshape(S, N, D), dtype=inputs[0].dtype)

    def event(self, plan, inputs, state, counts, steps):
        facts = plan["facts"]
        kernel = kernels.attention_qk_first if self.order == "qk_first" else kernels.attention_kv_first
        S, n_tokens, width = inputs[0].shape
        out = np.empty(inputs[0].shape, dtype=inputs[0].dtype)
        for s, t in enumerate(range(steps.start, steps.stop)):
            q, k, v = (np.rint(a[s]).astype(np.int64) for a in inputs)  # spikes as exact integers
            acc = np.zeros((n_tokens, width), dtype=np.int64)
            coincidences, synaptic, weighted, nonzero = kernel(q, k, v, self.heads, acc)
            counts["attention_coincidences"][t] = coincidences
            counts["synaptic_events"][t] = synaptic
            counts["weighted_synaptic_events"][t] = weighted
            counts["synaptic_events_nonzero"][t] = nonzero
            out[s] = acc * self.scale
        counts["dense_synaptic_ops"][steps] = facts.synapses
        counts["dense_macs"][steps] = facts.dense_ops
        counts["tokens"][steps] = n_tokens
        return out

    def count(self, params, inputs, output, facts, counts):
        """First product: binary coincidences. Second product: row scatters of the integer
        intermediate (qk_first: nonzero (QKᵀ)[n, m] scatter V's row m; kv_first: Q's spikes
        scatter rows of KᵀV), each of fan-out d."""
        q, k, v = (self._heads(np.rint(a).astype(np.int64)) for a in inputs)
        T, h, N, d = q.shape
        counts["tokens"][:] = N
        counts["dense_macs"][:] = facts.dense_ops
        counts["dense_synaptic_ops"][:] = facts.synapses
        if self.order == "qk_first":
            counts["attention_coincidences"][:] = (q.sum(axis=2) * k.sum(axis=2)).sum(axis=(1, 2))
            scores = q @ k.transpose(0, 1, 3, 2)                        # [T, h, N, N]
            v_row_nnz = (v != 0).sum(axis=3)                            # [T, h, N]
            counts["synaptic_events"][:] = (scores != 0).sum(axis=(1, 2, 3)) * d
            counts["weighted_synaptic_events"][:] = scores.sum(axis=(1, 2, 3)) * d
            counts["synaptic_events_nonzero"][:] = ((scores != 0) * v_row_nnz[:, :, None, :]).sum(axis=(1, 2, 3))
        else:
            counts["attention_coincidences"][:] = ((k != 0).sum(axis=3) * (v != 0).sum(axis=3)).sum(axis=(1, 2))
            kv = k.transpose(0, 1, 3, 2) @ v                            # [T, h, d, d]
            kv_row_nnz = (kv != 0).sum(axis=3)                          # [T, h, d]
            counts["synaptic_events"][:] = (q != 0).sum(axis=(1, 2, 3)) * d
            counts["weighted_synaptic_events"][:] = counts["synaptic_events"]
            counts["synaptic_events_nonzero"][:] = ((q != 0) * kv_row_nnz[:, :, None, :]).sum(axis=(1, 2, 3))

    def expected(self, facts, in_rates, out_rate, counts):
        """Spikes of Q, K and V independent with rates r_q, r_k, r_v: a score (QKᵀ)[n, m] is
        nonzero with p = 1 − (1 − r_q r_k)^d; qk_first coincidences r_q r_k N² D;
        kv_first coincidences r_k r_v N D d."""
        rq, rk, rv = (r.events for r in in_rates)
        n, width = facts.in_shapes[0]
        d = width // self.heads
        counts["tokens"][:] = n
        counts["dense_macs"][:] = facts.dense_ops
        counts["dense_synaptic_ops"][:] = facts.synapses
        if self.order == "qk_first":
            counts["attention_coincidences"][:] = rq * rk * n * n * width
            p_score = 1 - (1 - rq * rk) ** d
            counts["synaptic_events"][:] = self.heads * n * n * p_score * d
            counts["weighted_synaptic_events"][:] = self.heads * n * n * (rq * rk * d) * d
            counts["synaptic_events_nonzero"][:] = self.heads * n * n * p_score * rv * d
        else:
            counts["attention_coincidences"][:] = rk * rv * n * width * d
            counts["synaptic_events"][:] = rq * n * width * d
            counts["weighted_synaptic_events"][:] = rq * n * width * d
            counts["synaptic_events_nonzero"][:] = rq * n * width * d * (1 - (1 - rk * rv) ** n)
