"""``st_attention``: DISTA's spatiotemporal attention with explicit memory and denoising (Xu et
al., arXiv 2311.09376), per head h and step t, from spikes Q, K, V ∈ {0,1}^{N×D}, d = D/heads:

    K̃_t = [K_{t−w}; …; K_t],  Ṽ_t = [V_{t−w}; …; V_t]       (keys and values of the window, (w+1)·N rows;
                                                              steps before 0 do not exist)
    A_t = s · Q_t K̃_tᵀ                                       the attention map, N × (w+1)·N
    y_t = (A_t ⊙ [A_t ≥ θ]) Ṽ_t                               denoising: entries below θ are zeroed

then the attention neuron (a LIF layer after it in the spec), as in Spikformer. With w = 0 and no
θ this is Spikformer's SSA (``attention`` with ``order: qk_first``) exactly.

Assumptions where the paper is silent (no code was released): the window concatenates earlier
steps' keys and values as further tokens (one score per (query, key token, step)); θ applies to
the scaled map s·QKᵀ before the neuron; ``window`` and ``denoise`` are options. The mask needs the
map itself, so only the (Q Kᵀ) V order exists. Scores are integers: A ≥ θ ⟺ QKᵀ ≥ c with c the
least integer with c·s ≥ θ (computed once, shared by both engines).

Memory: the layer holds K and V of the last w steps in its state (so a run split into single
steps gives the same result). Counted per step: ``memory_elements`` = 2·N·D·min(t, w) values held,
``memory_reads`` = the stored K and V events the step reads, ``memory_writes`` = K_t and V_t events
stored for later steps (w > 0). Dense count per step: 2·N·(min(t, w) + 1)·N·D.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..spec.layer import ShapeProblem
from ..spec.registry import register
from . import st_attention_kernels
from .attention import SpikingQKV
from .base import Kind


def min_score(theta, scale) -> int:
    """The least integer score c ≥ 1 with c·s ≥ θ (1 without denoising)."""
    if theta is None:
        return 1
    c = max(1, math.ceil(theta / scale))
    while c > 1 and (c - 1) * scale >= theta:
        c -= 1
    while c * scale < theta:
        c += 1
    return c


def binomial_tail(n, p, c) -> tuple[float, float]:
    """(P(X ≥ c), E[X·1{X ≥ c}]) for X ~ Binomial(n, p); the second is n·p·P(Y ≥ c − 1) with
    Y ~ Binomial(n − 1, p) (x·C(n, x) = n·C(n − 1, x − 1))."""
    from scipy.stats import binom
    return float(binom.sf(c - 1, n, p)), float(n * p * binom.sf(c - 2, n - 1, p)) if n > 0 else 0.0


@register
@dataclass
class STAttention(SpikingQKV, Kind):
    heads: int = 1
    scale: float = 0.125
    window: int = 0
    denoise: float | None = None
    kind: ClassVar[str] = "st_attention"
    arity: ClassVar[int | None] = 3

    def __post_init__(self):
        if not isinstance(self.heads, int) or self.heads < 1:
            raise ShapeProblem(f"'heads' must be a positive int, got {self.heads!r}")
        if not isinstance(self.window, int) or isinstance(self.window, bool) or self.window < 0:
            raise ShapeProblem(f"'window' must be an int ≥ 0 (earlier steps attended to), got {self.window!r}")
        if self.scale <= 0:
            raise ShapeProblem(f"'scale' must be positive, got {self.scale!r}")

    def dense_ops(self, in_shapes, out_shape):
        """With the whole window filled: 2·N·(w + 1)·N·D."""
        n, width = in_shapes[0]
        return 2 * n * n * width * (self.window + 1)

    def synapses(self, in_shapes, out_shape):
        return self.dense_ops(in_shapes, out_shape)

    def ann_macs(self, in_shapes, out_shape):
        return self.dense_ops(in_shapes, out_shape)

    def blocks(self, t) -> int:
        """Steps in the window at step t."""
        return min(t, self.window) + 1

    def prepare(self, params, dtype, facts, engine):
        return {"min_score": min_score(self.denoise, self.scale)}

    # -- engines --------------------------------------------------------------------------
    def _windows(self, inputs, state, as_int):
        """Per step: (t, q_t, stacked keys, stacked values, stored K/V events read); memory carried in ``state``."""
        q, k, v = ((np.rint(a).astype(np.int64) if as_int else a) for a in inputs)
        memory = state.setdefault("memory", [])
        t0 = state.get("t", 0)
        state["t"] = t0 + len(q)
        for s in range(len(q)):
            stored = sum(np.count_nonzero(mk) + np.count_nonzero(mv) for mk, mv in memory)
            keys = np.concatenate([mk for mk, _ in memory] + [k[s]])
            values = np.concatenate([mv for _, mv in memory] + [v[s]])
            yield t0 + s, q[s], keys, values, stored
            if self.window:
                memory.append((k[s], v[s]))
                del memory[:-self.window]

    def dense(self, plan, inputs, state):
        n, width = inputs[0].shape[1:]
        d = width // self.heads
        out = np.empty_like(inputs[0])
        for s, (_, q, keys, values, _) in enumerate(self._windows(inputs, state, as_int=False)):
            for h in range(self.heads):
                cols = slice(h * d, (h + 1) * d)
                scores = q[:, cols] @ keys[:, cols].T
                scores = scores * (scores >= plan["min_score"])
                out[s, :, cols] = (scores @ values[:, cols]) * self.scale
        return out

    def event(self, plan, inputs, state, counts, steps):
        n, width = inputs[0].shape[1:]
        out = np.empty_like(inputs[0])
        k, v = inputs[1], inputs[2]
        for s, (t, q, keys, values, stored) in enumerate(self._windows(inputs, state, as_int=True)):
            acc = np.zeros((n, width), dtype=np.int64)
            coincidences, rows, synaptic, weighted = st_attention_kernels.windowed_attention(
                q, keys, values, self.heads, plan["min_score"], acc)
            out[s] = acc * self.scale
            i = steps.start + s   # this step's entry in the count arrays (t: its time in the run)
            counts["attention_coincidences"][i] = coincidences
            counts["attention_row_additions"][i] = rows
            counts["synaptic_events"][i] = counts["synaptic_events_nonzero"][i] = synaptic
            counts["weighted_synaptic_events"][i] = weighted
            counts["dense_synaptic_ops"][i] = counts["dense_macs"][i] = 2 * n * n * width * self.blocks(t)
            counts["memory_elements"][i] = 2 * n * width * (self.blocks(t) - 1)
            counts["memory_reads"][i] = stored
            counts["memory_writes"][i] = (np.count_nonzero(k[s]) + np.count_nonzero(v[s])) if self.window else 0
        counts["tokens"][steps] = n
        return out

    # -- counts ---------------------------------------------------------------------------
    def count(self, params, inputs, output, facts, counts):
        """Brute force from the whole [T, N, D] tensors: every step's window sliced out directly."""
        q, k, v = (np.rint(a).astype(np.int64) for a in inputs)
        T, n, width = q.shape
        d = width // self.heads
        c = min_score(self.denoise, self.scale)
        for t in range(T):
            first = max(0, t - self.window)
            keys, values = k[first:t + 1].reshape(-1, width), v[first:t + 1].reshape(-1, width)
            totals = np.zeros(4, dtype=np.int64)
            for h in range(self.heads):
                cols = slice(h * d, (h + 1) * d)
                qh, kh, vh = q[t][:, cols], keys[:, cols], values[:, cols]
                scores = qh @ kh.T
                kept = scores * (scores >= c)
                v_nnz = np.count_nonzero(vh, axis=1)[None, :]
                totals += [(qh.sum(axis=0) * kh.sum(axis=0)).sum(), np.count_nonzero(kept) * d,
                           ((kept != 0) * v_nnz).sum(), (kept * v_nnz).sum()]
            for field, value in zip(("attention_coincidences", "attention_row_additions", "synaptic_events",
                                     "weighted_synaptic_events"), totals):
                counts[field][t] = value
            counts["synaptic_events_nonzero"][t] = counts["synaptic_events"][t]
            counts["dense_synaptic_ops"][t] = counts["dense_macs"][t] = 2 * n * n * width * (t - first + 1)
            counts["memory_elements"][t] = 2 * n * width * (t - first)
            counts["memory_reads"][t] = np.count_nonzero(k[first:t]) + np.count_nonzero(v[first:t])
            counts["memory_writes"][t] = (np.count_nonzero(k[t]) + np.count_nonzero(v[t])) if self.window else 0
        counts["tokens"][:] = n

    def expected(self, facts, in_rates, out_rate, counts):
        """Independent spikes at rates r_q, r_k, r_v: a score ~ Binomial(d, r_q r_k); it is kept with
        P(score ≥ c) and carries E[score; score ≥ c]; a kept score meets r_v·d spikes of its V row;
        step t has min(t, w) + 1 blocks of N keys."""
        rq, rk, rv = (r.events for r in in_rates)
        n, width = facts.in_shapes[0]
        d = width // self.heads
        kept, mass = binomial_tail(d, rq * rk, min_score(self.denoise, self.scale))
        blocks = np.array([self.blocks(t) for t in range(facts.steps)], dtype=np.float64)
        pairs = self.heads * n * n * blocks
        counts["attention_coincidences"][:] = rq * rk * n * n * width * blocks
        counts["attention_row_additions"][:] = pairs * kept * d
        counts["synaptic_events"][:] = counts["synaptic_events_nonzero"][:] = pairs * kept * rv * d
        counts["weighted_synaptic_events"][:] = pairs * mass * rv * d
        counts["dense_synaptic_ops"][:] = counts["dense_macs"][:] = 2 * n * n * width * blocks
        counts["memory_elements"][:] = 2 * n * width * (blocks - 1)
        counts["memory_reads"][:] = (rk + rv) * n * width * (blocks - 1)
        counts["memory_writes"][:] = (rk + rv) * n * width if self.window else 0.0
        counts["tokens"][:] = n
