"""``sdsa_sum``: the first half of the Spike-Driven Transformer's spike-driven self-attention
(SDSA, Yao et al., NeurIPS 2023; ``MS_SSA_Conv`` in BICLab/Spike-Driven-Transformer), per step:

    y[0, j] = Σ_n K[n, j] · V[n, j],    K, V ∈ {0,1}^{N×D}        (a column sum over tokens)

The Hadamard product of two spike maps is a mask (an AND), so the layer's only arithmetic is
one addition per coincidence K[n, j] = V[n, j] = 1. The official code then applies a LIF with
threshold 0.5 (``talking_heads_lif``, an ordinary ``lif`` layer in the spec) and masks Q with
its output (``mask``): SDSA(Q, K, V) = Q ⊙ SN(SUM_c(K ⊙ V)). Heads do not change the function
(the reshape into heads is undone by the column sum), so the kind has none.

Counts per step: synaptic events = coincidences Σ_n nnz(K[n] ⊙ V[n]) (each is one addition);
the dense count is N·D (every element pair). The event step visits only K's events and looks
each one up in V. Expected, K and V independent at rates r_k, r_v: r_k·r_v·N·D additions; the
output (integer counts) is nonzero with 1 − (1 − r_k r_v)^N and carries N·r_k·r_v on average.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..spec.layer import INTEGER, ShapeProblem, require_rank
from ..spec.registry import register
from ..stats import Rate
from . import kernels
from .base import Kind, per_step


@register
@dataclass
class SDSASum(Kind):
    step_local: ClassVar[bool] = True
    kind: ClassVar[str] = "sdsa_sum"
    arity: ClassVar[int | None] = 2
    rate_rule: ClassVar[str] = "K, V independent: events 1 − (1 − r_k r_v)^N, spikes N r_k r_v"
    detail_keys: ClassVar[tuple] = ("coincidences",)

    def output_shape(self, in_shapes):
        for s in in_shapes:
            require_rank(s, (2,), "k and v")
        if in_shapes[0] != in_shapes[1]:
            raise ShapeProblem(f"k and v must have one shape, got {[list(s) for s in in_shapes]}")
        return (1, in_shapes[0][1])

    def output_values(self, in_values):
        return INTEGER

    def dense_ops(self, in_shapes, out_shape):
        n, width = in_shapes[0]
        return n * width

    def synapses(self, in_shapes, out_shape):
        return self.dense_ops(in_shapes, out_shape)

    def ann_macs(self, in_shapes, out_shape):
        return self.dense_ops(in_shapes, out_shape)

    def prepare(self, params, dtype, facts, engine):
        return {"facts": facts}

    def dense(self, plan, inputs, state):
        k, v = inputs
        return (k * v).sum(axis=1, keepdims=True)

    def event(self, plan, inputs, state, counts, steps):
        k, v = inputs
        S, N, D = k.shape
        out = np.zeros((S, 1, D), dtype=k.dtype)
        for s, t in enumerate(range(steps.start, steps.stop)):
            index, _ = kernels.extract_events(k[s].reshape(-1))
            hits = index[v[s].reshape(-1)[index] != 0]
            np.add.at(out[s, 0], hits % D, 1)
            counts["synaptic_events"][t] = counts["weighted_synaptic_events"][t] = \
                counts["synaptic_events_nonzero"][t] = len(hits)
        self._dense_counts(plan["facts"], counts, steps)
        return out

    def _dense_counts(self, facts, counts, steps):
        counts["dense_synaptic_ops"][steps] = facts.synapses
        counts["dense_macs"][steps] = facts.dense_ops
        counts["tokens"][steps] = facts.in_shapes[0][0]

    def count(self, params, inputs, output, facts, counts):
        """Brute force: nonzero elements of K ⊙ V per step."""
        k, v = inputs
        hits = np.count_nonzero(per_step(k * v), axis=1)
        counts["synaptic_events"][:] = counts["weighted_synaptic_events"][:] = counts["synaptic_events_nonzero"][:] = hits
        self._dense_counts(facts, counts, slice(None))

    def detail(self, stats, facts):
        """Measured coincidences over the N·D element pairs (what correlation of K and V changes)."""
        pairs = sum(s.total("dense_synaptic_ops") for s in stats)
        return {"coincidences": sum(s.total("synaptic_events") for s in stats) / pairs}

    def expected(self, facts, in_rates, out_rate, counts):
        rk, rv = (r.events for r in in_rates)
        fraction = (out_rate.detail or {}).get("coincidences", rk * rv)
        for field in ("synaptic_events", "weighted_synaptic_events", "synaptic_events_nonzero"):
            counts[field][:] = fraction * facts.synapses
        self._dense_counts(facts, counts, slice(None))

    def output_rate(self, facts, in_rates):
        rk, rv = (r.events for r in in_rates)
        n = facts.in_shapes[0][0]
        return Rate(1 - (1 - rk * rv) ** n, n * rk * rv)
