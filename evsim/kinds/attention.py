"""``attention``: spiking self-attention without softmax, per head h and time step.

    y_h = s · Q_h K_hᵀ V_h,   Q, K, V ∈ {0,1}^{N×d},  d = D/heads

``order: qk_first`` computes (Q Kᵀ) then ·V (an N×N intermediate, the CIFAR code);
``kv_first`` computes Kᵀ V then Q· (d×d, the ImageNet code). Same function, different
operation counts: 2·N²·D versus 2·N·D·d per step.

q, k and v must be binary spikes (checked at load). Event step: all steps and heads in one
bit-packed AND + popcount call (``attention_bits``); in mixed execution the values come from
the dense matmuls instead (exact on spikes, and faster at every rate measured) and only the
counts from the bit-packed kernel. Counted as the events would be done one by one:

- qk_first: every (q token, k token) pair spiking on one feature is a coincidence adding 1 to
  a score; each nonzero score S[n, m] then adds into y[n] only where V[m] has spikes — Σ over
  nonzero S[n, m] of nnz(V[m]) additions (value-weighted: Σ S[n, m]·nnz(V[m])).
- kv_first: every (k feature, v feature) pair spiking in one token adds 1 to M = KᵀV; each q
  spike (n, i) adds the nonzero entries of row M[i, :] — Σ over q spikes of nnz(M[i, :]).

Counting every intermediate row as dense (nonzero scores × d, or q spikes × d) is kept as
``attention_row_additions``. Integer products are formed first and scaled last, so both
orders are exact.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..spec.layer import ANALOG, ShapeProblem, require_rank, require_spikes
from ..spec.registry import register
from . import attention_bits
from .base import Kind

ORDERS = ("qk_first", "kv_first")


def qkv_shape(in_shapes, heads) -> tuple:
    """The one [N, D] shape of q, k and v, D divisible into ``heads`` (every attention kind's check)."""
    for s in in_shapes:
        require_rank(s, (2,), "q, k, v")
    if len(set(in_shapes)) != 1:
        raise ShapeProblem(f"q, k and v must have one shape, got {[list(s) for s in in_shapes]}")
    if in_shapes[0][1] % heads:
        raise ShapeProblem(f"{in_shapes[0][1]} features are not divisible into {heads} heads")
    return in_shapes[0]


class SpikingQKV:
    """The inputs of every attention kind: q, k and v binary spikes of one [N, D] shape, D
    divisible into ``heads``; the output analog."""

    def output_shape(self, in_shapes):
        return qkv_shape(in_shapes, self.heads)

    def output_values(self, in_values):
        require_spikes(in_values, ["q", "k", "v"])
        return ANALOG


@register
@dataclass
class Attention(SpikingQKV, Kind):
    step_local: ClassVar[bool] = True
    heads: int = 1
    scale: float = 0.125
    order: str = "qk_first"
    kind: ClassVar[str] = "attention"
    arity: ClassVar[int | None] = 3
    detail_keys: ClassVar[tuple] = ("coincidences", "synaptic", "weighted", "rows")
    # BLAS at any density: two small batched matmuls beat the bit-packed products on every
    # shape and rate measured (benchmarks/bench_attention.py), and on 0/1 spikes they are exact.
    dense_inputs_above: ClassVar[float] = 0.0

    def __post_init__(self):
        if self.order not in ORDERS:
            raise ShapeProblem(f"'order' must be qk_first or kv_first, got {self.order!r}")
        if not isinstance(self.heads, int) or self.heads < 1:
            raise ShapeProblem(f"'heads' must be a positive int, got {self.heads!r}")

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
        """Dense: the intermediate product of every head over the steps ([S, h, N, N] or
        [S, h, d, d]) and its scaled copy. Both: 4·N·D for the output and copies (the event
        step's bit-packed spikes and bit planes are 1/64 of an element per spike slot)."""
        n, width = in_shapes[0]
        d = width // self.heads
        inner = n * n if self.order == "qk_first" else d * d
        return (2 * steps * self.heads * inner if engine == "dense" else 0) + 4 * n * width

    def prepare(self, params, dtype, facts, engine):
        return {"facts": facts}

    def _heads(self, a):
        """[S, N, D] → [S, heads, N, d]."""
        S, N, D = a.shape
        return a.reshape(S, N, self.heads, D // self.heads).transpose(0, 2, 1, 3)

    def dense(self, plan, inputs, state):
        return self._product(inputs, self.order == "qk_first")

    def _product(self, inputs, qk_first):
        """s · Q Kᵀ V per head over the steps, (Q Kᵀ) V or Q (Kᵀ V)."""
        q, k, v = (self._heads(a) for a in inputs)
        if qk_first:
            out = (q @ k.transpose(0, 1, 3, 2)) @ v
        else:
            out = q @ (k.transpose(0, 1, 3, 2) @ v)
        S, N, D = inputs[0].shape
        return np.ascontiguousarray((out * self.scale).transpose(0, 2, 1, 3).reshape(S, N, D), dtype=inputs[0].dtype)

    def event(self, plan, inputs, state, counts, steps):
        out = np.empty(inputs[0].shape, dtype=inputs[0].dtype)
        per_step = attention_bits.attention_bits(*inputs, self.heads, self.order, self.scale, out)
        self._record(per_step, plan["facts"], counts, steps)
        return out

    def event_dense(self, plan, inputs, state, counts, steps):
        """Matmuls (BLAS) for the values, the bit-packed kernel for the counts. On 0/1 spikes
        every product and partial sum is an integer of at most N·d, exact in the dtype while
        N·d ≤ 2^24 (float32) or 2^53 (float64) — so either association gives the dense engine's
        values bit for bit, and the cheaper one is taken (2N²d against 2Nd² per head); past
        that bound, the event step."""
        facts = plan["facts"]
        n_tokens, width = facts.in_shapes[0]
        if n_tokens * (width // self.heads) > 2 ** (np.finfo(inputs[0].dtype).nmant + 1):
            return self.event(plan, inputs, state, counts, steps)
        self._record(attention_bits.attention_counts(*inputs, self.heads, self.order), facts, counts, steps)
        return self._product(inputs, n_tokens < width // self.heads)

    def _record(self, per_step, facts, counts, steps):
        """Counts per step [S, 4] from ``attention_bits`` into the layer's fields."""
        for column, field in enumerate(("attention_coincidences", "attention_row_additions",
                                        "synaptic_events", "weighted_synaptic_events")):
            counts[field][steps] = per_step[:, column]
        counts["synaptic_events_nonzero"][steps] = per_step[:, 2]
        counts["dense_synaptic_ops"][steps] = facts.synapses
        counts["dense_macs"][steps] = facts.dense_ops
        counts["tokens"][steps] = facts.in_shapes[0][0]

    def count(self, params, inputs, output, facts, counts):
        """Brute force from the dense products: qk_first scores S = QKᵀ, additions
        Σ_{S≠0} nnz(V[m]) (weighted Σ S·nnz(V[m])); kv_first M = KᵀV, additions Σ_{q spikes} nnz(M[i])."""
        q, k, v = (self._heads(np.rint(a).astype(np.int64)) for a in inputs)
        T, h, N, d = q.shape
        counts["tokens"][:] = N
        counts["dense_macs"][:] = facts.dense_ops
        counts["dense_synaptic_ops"][:] = facts.synapses
        if self.order == "qk_first":
            counts["attention_coincidences"][:] = (q.sum(axis=2) * k.sum(axis=2)).sum(axis=(1, 2))
            scores = q @ k.transpose(0, 1, 3, 2)                        # [T, h, N, N]
            v_row_nnz = (v != 0).sum(axis=3)[:, :, None, :]             # [T, h, 1, N]
            counts["attention_row_additions"][:] = (scores != 0).sum(axis=(1, 2, 3)) * d
            counts["synaptic_events"][:] = ((scores != 0) * v_row_nnz).sum(axis=(1, 2, 3))
            counts["weighted_synaptic_events"][:] = (scores * v_row_nnz).sum(axis=(1, 2, 3))
        else:
            counts["attention_coincidences"][:] = ((k != 0).sum(axis=3) * (v != 0).sum(axis=3)).sum(axis=(1, 2))
            kv = k.transpose(0, 1, 3, 2) @ v                            # [T, h, d, d]
            kv_row_nnz = (kv != 0).sum(axis=3)                          # [T, h, d]
            counts["attention_row_additions"][:] = (q != 0).sum(axis=(1, 2, 3)) * d
            counts["synaptic_events"][:] = ((q != 0) * kv_row_nnz[:, :, None, :]).sum(axis=(1, 2, 3))
            counts["weighted_synaptic_events"][:] = counts["synaptic_events"]
        counts["synaptic_events_nonzero"][:] = counts["synaptic_events"]

    def detail(self, stats, facts):
        """Each product's measured counts per step over its dense maximum (N²·D pairs for
        qk_first, N·D·d for kv_first; the same for both products): the first product's
        coincidence rate, and the second's additions event by event, value-weighted, and
        with every intermediate row dense — what spike correlations make differ from independence."""
        pairs = sum(s.total("dense_synaptic_ops") for s in stats) / 2
        return {key: sum(s.total(field) for s in stats) / pairs for key, field in
                (("coincidences", "attention_coincidences"), ("synaptic", "synaptic_events"),
                 ("weighted", "weighted_synaptic_events"), ("rows", "attention_row_additions"))}

    def expected(self, facts, in_rates, out_rate, counts):
        """Measured detail when declared (exact); otherwise spikes of Q, K and V independent
        with rates r_q, r_k, r_v. qk_first, as fractions of N²D: coincidences r_q r_k; a score
        is nonzero with p = 1 − (1 − r_q r_k)^d and has mean r_q r_k d, a V row d·r_v spikes:
        additions p·r_v, weighted r_q r_k r_v d, rows p. kv_first, of N·D·d: coincidences
        r_k r_v; a row of KᵀV has a nonzero entry with 1 − (1 − r_k r_v)^N: additions and
        weighted r_q (1 − (1 − r_k r_v)^N), rows r_q."""
        rq, rk, rv = (r.events for r in in_rates)
        n, width = facts.in_shapes[0]
        d = width // self.heads
        pairs = facts.synapses / 2
        counts["tokens"][:] = n
        counts["dense_macs"][:] = facts.dense_ops
        counts["dense_synaptic_ops"][:] = facts.synapses
        if self.order == "qk_first":
            p_score = 1 - (1 - rq * rk) ** d
            assumed = {"coincidences": rq * rk, "synaptic": p_score * rv, "weighted": rq * rk * rv * d, "rows": p_score}
        else:
            reach = rq * (1 - (1 - rk * rv) ** n)
            assumed = {"coincidences": rk * rv, "synaptic": reach, "weighted": reach, "rows": rq}
        fraction = {**assumed, **(out_rate.detail or {})}
        counts["attention_coincidences"][:] = fraction["coincidences"] * pairs
        counts["synaptic_events"][:] = counts["synaptic_events_nonzero"][:] = fraction["synaptic"] * pairs
        counts["weighted_synaptic_events"][:] = fraction["weighted"] * pairs
        counts["attention_row_additions"][:] = fraction["rows"] * pairs
