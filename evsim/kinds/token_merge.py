"""``token_merge``: AT-SNN's token merging as ToMe's bipartite soft matching (Bolya et al.,
ICLR 2023), at the entry of one block, per time step.

Candidates are the tokens alive at the block's entry (not merged away by an earlier block of
this step) and not halted by this block's ``halting`` layer (``gated: true``), in index
order c_0 < c_1 < … < c_{n−1}; A = {c_0, c_2, …} (⌈n/2⌉ tokens), B = {c_1, c_3, …}. The
features compared are the block inputs x (the tokens the block receives — integer spike
counts of the residual stream in the first block, analog after a merge):

    cos(a, b) = x_a·x_b / (‖x_a‖ ‖x_b‖)        1 if both are zero, 0 if one is; clipped to [−1, 1]
    b*(a)     = argmax_{b∈B} cos(a, b)          (the first maximum)
    score(a)  = cos(a, b*(a))

Merged: with ``r`` the min(r, |A|) tokens a of highest score (ties: the earlier a); with
``threshold`` θ every a with score(a) > θ (θ = 1: none). Each merged a joins b*(a) (several may join one b;
a token of B is never merged in that block, so there are no chains). Sizes, per token:

    s'_b = s_b + Σ_{a→b} s_a,    s'_a = 0        (s = 1 for every token at the step start)

and ``merged_tokens`` forms x'_b = Σ s_k x_k / Σ s_k over b's group. ``r: 0`` with no
``threshold`` (or θ = 1) merges nothing: the layer is then bookkeeping only (sizes 1), and the
block is the plain Spikformer block exactly.

Output per step: [N, 4] token state, columns
    0  s'          size after this block's merges (0: merged away)
    1  processed   [s' > 0 and not halted] — the column ``halting`` writes too: the masked
                   kinds (``masked_linear``, ``masked_lif``…) process exactly these tokens
    2  carrier     the token that carries original token k after this block (composed over
                   the blocks of the step: an original merged at block 0 into b, b merged at
                   block 2 into c, has carrier c from block 2 on)
    3  s           size at the block's entry (the weight ``merged_tokens`` averages with)

Inputs: [x, previous token state, halting]. ``first: true``: the second input is ignored and
every token starts alone (s = 1, carrier k); ``gated: false``: the third is ignored.

The reading of the paper (AT-SNN gives no code; it says similar tokens are merged by the
cosine similarity of their features): merging is per block *and per time step*, and every
step starts from the full token set — Spikformer's patch splitting emits all N tokens anew
at each step, evsim's halting restarts its scores at each step in the same way, and with a
fixed r the tokens per block and step are then known in advance: n_l = n_{l−1} − min(r, ⌈n_{l−1}/2⌉).
Halted tokens are never merged (they are carried unchanged to the head); a merged token
inherits its carrier's halting score. Neurons of a group: see ``masked_neurons``.

Counts: ``tokens`` = tokens the block processes (column 1), per step. The matching is analog
work on the block inputs, counted event by event as synaptic operations (priced by the input's
value kind, like every layer):
    synaptic_events  Σ_{a∈A, b∈B} nnz(x_a ⊙ x_b)  +  Σ_{k∈A∪B} nnz(x_k)      (dot products, norms)
    weighted (integer inputs)  Σ_{a,b} x_a·x_b + Σ_k x_k·x_k  (an integer product as repeated addition)
    dense_synaptic_ops  |A|·|B|·D + n·D
Not counted: the |A|·|B| normalisations, the arg-max and the sort (no D factor).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..spec.layer import ANALOG, INTEGER, ShapeProblem, require_rank
from ..spec.registry import register
from ..stats import Rate
from .base import Kind
from .halting import active_fraction, active_tokens, expect_tokens_input, measured_active, record_tokens_input

SIZE, PROCESSED, CARRIER, ENTRY_SIZE = range(4)
STATE_WIDTH = 4
WORK_KEYS = ("synaptic", "weighted", "dense")
WORK_FIELDS = ("synaptic_events", "weighted_synaptic_events", "dense_synaptic_ops")


def carriers(state: np.ndarray) -> np.ndarray | None:
    """[S, N] carrier indices from a token state, or None for a halting state (no merging)."""
    return None if state.shape[-1] != STATE_WIDTH else np.rint(state[..., CARRIER]).astype(np.int64)


def cosine(xa: np.ndarray, xb: np.ndarray) -> np.ndarray:
    """[|A|, |B|] cosine similarities; 1 between two zero vectors, 0 between a zero and a nonzero one."""
    na, nb = np.sqrt((xa * xa).sum(axis=1)), np.sqrt((xb * xb).sum(axis=1))
    norm = np.outer(na, nb)
    sim = np.divide(xa @ xb.T, norm, out=np.zeros(norm.shape, dtype=xa.dtype), where=norm > 0)
    sim[np.outer(na == 0, nb == 0)] = 1.0
    return np.clip(sim, -1.0, 1.0)


def bipartite_pairs(n: int) -> tuple[int, int]:
    """(|A|, |B|) of n candidates."""
    return (n + 1) // 2, n // 2


def merges_of(r: int, n: int) -> int:
    """Merges a fixed r makes among n candidates."""
    return min(r, bipartite_pairs(n)[0]) if n >= 2 else 0


@register
@dataclass
class TokenMerge(Kind):
    r: int = 0
    threshold: float | None = None
    first: bool = False
    gated: bool = False
    kind: ClassVar[str] = "token_merge"
    arity: ClassVar[int | None] = 3
    detail_keys: ClassVar[tuple] = ("active", *WORK_KEYS)
    rate_rule: ClassVar[str] = ("token fractions: a fixed r exactly (n − min(r, ⌈n/2⌉)); "
                                "a threshold: no merge assumed without a run")

    def __post_init__(self):
        if isinstance(self.r, bool) or not isinstance(self.r, int) or self.r < 0:
            raise ShapeProblem(f"'r' (merges per block and step) must be an int ≥ 0, got {self.r!r}")
        if self.threshold is not None and not -1.0 <= self.threshold <= 1.0:
            raise ShapeProblem(f"'threshold' is a cosine similarity in [-1, 1] (1 merges nothing), got {self.threshold!r}")
        if self.r and self.threshold is not None:
            raise ShapeProblem(f"give 'r' ({self.r}) or 'threshold' ({self.threshold}), not both",
                               fix="r: a fixed number of merges per block; threshold: every pair more similar than it")

    @property
    def merging(self) -> bool:
        """Whether the layer can merge (cosines are at most 1, so θ = 1 merges nothing)."""
        return self.r > 0 or (self.threshold is not None and self.threshold < 1.0)

    def output_shape(self, in_shapes):
        require_rank(in_shapes[0], (2,), "its input (the block's tokens)")
        n = in_shapes[0][0]
        if not self.first and tuple(in_shapes[1]) != (n, STATE_WIDTH):
            raise ShapeProblem(f"the second input must be the previous block's token_merge state [{n}, {STATE_WIDTH}], "
                               f"got {list(in_shapes[1])}", fix="name the previous block's token_merge layer, or set first: true")
        if self.gated and tuple(in_shapes[2]) != (n, 2):
            raise ShapeProblem(f"the third input must be this block's halting layer [{n}, 2], got {list(in_shapes[2])}",
                               fix="name the block's halting layer, or set gated: false")
        if self.r > bipartite_pairs(n)[0] or self.r >= n:
            raise ShapeProblem(f"'r' = {self.r} merges per block, but a bipartite matching of {n} tokens merges at most "
                               f"{bipartite_pairs(n)[0] if n > 1 else 0} (set A: every other token)", fix="lower 'r'")
        return (n, STATE_WIDTH)

    def output_values(self, in_values):
        """The state's value kind says whether it can merge (``merged_tokens`` reads it): analog
        when sizes can differ from 1 (averages of spike counts are analog), integer otherwise."""
        return ANALOG if self.merging else INTEGER

    def dense_ops(self, in_shapes, out_shape):
        """Every product of the matching with all N tokens candidates: ⌈N/2⌉·⌊N/2⌋·D + N·D."""
        if not self.merging:
            return 0
        n, width = in_shapes[0]
        a, b = bipartite_pairs(n)
        return (a * b + n) * width

    def synapses(self, in_shapes, out_shape):
        return self.dense_ops(in_shapes, out_shape)

    def prepare(self, params, dtype, facts, engine):
        return {"facts": facts}

    def _entry(self, inputs, s):
        """Sizes and carriers at the block's entry and the tokens halted here, for step s."""
        n = inputs[0].shape[1]
        if self.first:
            size, carrier = np.ones(n), np.arange(n)
        else:
            size, carrier = inputs[1][s, :, SIZE], np.rint(inputs[1][s, :, CARRIER]).astype(np.int64)
        halted = ~active_tokens(inputs[2][s]) if self.gated else np.zeros(n, dtype=bool)
        return size, carrier, halted

    def candidates(self, inputs, s) -> tuple[np.ndarray, np.ndarray]:
        """Sets A and B (token indices) of step s."""
        size, _, halted = self._entry(inputs, s)
        cand = np.flatnonzero((size > 0) & ~halted)
        return cand[0::2], cand[1::2]

    def match(self, x: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(merged tokens of A, their destinations in B) for one step's features x [N, D]."""
        if not self.merging or len(b) == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        sim = cosine(x[a], x[b])
        best = np.argmax(sim, axis=1)
        score = sim[np.arange(len(a)), best]
        if self.threshold is not None:
            chosen = np.flatnonzero(score > self.threshold)
        else:
            chosen = np.sort(np.argsort(-score, kind="stable")[:self.r])
        return a[chosen], b[best[chosen]]

    def dense(self, plan, inputs, state):
        x = inputs[0]
        S, n = x.shape[:2]
        out = np.zeros((S, n, STATE_WIDTH), dtype=x.dtype)
        for s in range(S):
            size, carrier, halted = self._entry(inputs, s)
            src, dst = self.match(x[s], *self.candidates(inputs, s))
            target = np.arange(n)
            target[src] = dst
            new_size = size.copy()
            np.add.at(new_size, dst, size[src])
            new_size[src] = 0
            out[s, :, SIZE] = new_size
            out[s, :, PROCESSED] = (new_size > 0) & ~halted
            out[s, :, CARRIER] = target[carrier]
            out[s, :, ENTRY_SIZE] = size
        return out

    def event(self, plan, inputs, state, counts, steps):
        out = self.dense(plan, inputs, state)
        x, values = inputs[0], plan["facts"].in_values[0]
        for s, t in enumerate(range(steps.start, steps.stop)):
            a, b = self.candidates(inputs, s)
            work = matching_work(x[s], a, b, values) if self.merging else (0, 0, 0)
            counts["synaptic_events"][t] = counts["synaptic_events_nonzero"][t] = work[0]
            counts["weighted_synaptic_events"][t] = work[1]
            counts["dense_synaptic_ops"][t] = work[2]
        self._record(plan["facts"], inputs, out, counts, steps)
        return out

    def _record(self, facts, inputs, out, counts, steps=slice(None)):
        counts["tokens"][steps] = active_tokens(out).sum(axis=1)
        counts["dense_macs"][steps] = facts.dense_ops
        record_tokens_input(inputs, facts, counts, steps)

    def count(self, params, inputs, output, facts, counts):
        """Brute force: every pair (a, b) and every feature, one at a time."""
        x = inputs[0]
        for s in range(x.shape[0]):
            a, b = self.candidates(inputs, s) if self.merging else (np.zeros(0, int), np.zeros(0, int))
            pairs = [(i, j) for i in a for j in b] + [(k, k) for k in (*a, *b)]
            products = [x[s, i] * x[s, j] for i, j in pairs]
            counts["synaptic_events"][s] = counts["synaptic_events_nonzero"][s] = sum(np.count_nonzero(p) for p in products)
            counts["weighted_synaptic_events"][s] = (round(sum(p.sum() for p in products)) if facts.in_values[0] == INTEGER
                                                     else counts["synaptic_events"][s])
            counts["dense_synaptic_ops"][s] = len(pairs) * x.shape[2]
        self._record(facts, inputs, output, counts)

    def output_rate(self, facts, in_rates):
        """Expected token fractions: ``entered`` (alive at the entry; nothing halts without a
        run) and ``active`` after a fixed r's merges (a threshold's merges are unknown: none)."""
        n_all = facts.in_shapes[0][0]
        entered = 1.0 if self.first else active_fraction(in_rates[1])
        n = round(entered * n_all)
        merged = merges_of(self.r, n) if self.threshold is None else 0
        return Rate(1.0, 1.0, {"active": (n - merged) / n_all, "entered": entered})

    def detail(self, stats, facts):
        return {**measured_active(stats, facts), **measured_work(stats, facts)}

    def expected(self, facts, in_rates, out_rate, counts):
        """Tokens from the ``active`` fraction; the matching's products among n = entered·N
        candidates, x's events independent with per-token rate ρ = e/entered (mean value
        v = s/entered; the squares' mean taken as v²) — or the measured work when declared."""
        n_all, width = facts.in_shapes[0]
        counts["tokens"][:] = active_fraction(out_rate) * n_all
        counts["dense_macs"][:] = facts.dense_ops
        expect_tokens_input(facts, in_rates, counts)
        if not self.merging:
            return
        entered = 1.0 if self.first else active_fraction(in_rates[1])
        n = round(entered * n_all)
        a, b = bipartite_pairs(n)
        rho = min(1.0, in_rates[0].events / entered) if entered else 0.0
        v = in_rates[0].spikes / entered if entered else 0.0
        synaptic = (a * b * rho * rho + n * rho) * width
        weighted = (a * b * v * v + n * v) * width if facts.in_values[0] == INTEGER else synaptic
        expect_work(facts, out_rate, counts, synaptic, weighted, (a * b + n) * width)


def measured_work(stats, facts) -> dict:
    """Measured synaptic, value-weighted and dense operations per element of x and step."""
    elements = math.prod(facts.in_shapes[0]) * sum(s.steps for s in stats)
    return {key: sum(s.total(field) for s in stats) / elements for key, field in zip(WORK_KEYS, WORK_FIELDS)}


def expect_work(facts, out_rate, counts, synaptic, weighted, dense) -> None:
    """The assumed operations per step, or the measured ones when the rate declares them."""
    elements = math.prod(facts.in_shapes[0])
    measured = out_rate.detail or {}
    for key, field, assumed in zip(WORK_KEYS, WORK_FIELDS, (synaptic, weighted, dense)):
        counts[field][:] = measured[key] * elements if key in measured else assumed
    counts["synaptic_events_nonzero"][:] = counts["synaptic_events"]


def matching_work(x, a, b, values) -> tuple[int, int, int]:
    """(synaptic, value-weighted, dense) operations of one step's matching, column by column:
    a feature j contributes nnz_A(j)·nnz_B(j) products and nnz_{A∪B}(j) squares."""
    xa, xb = x[a], x[b]
    nz_a, nz_b = np.count_nonzero(xa, axis=0), np.count_nonzero(xb, axis=0)
    synaptic = int((nz_a * nz_b).sum() + nz_a.sum() + nz_b.sum())
    if values == INTEGER:
        weighted = int(round(float((xa.sum(axis=0) * xb.sum(axis=0)).sum() + (xa * xa).sum() + (xb * xb).sum())))
    else:
        weighted = synaptic
    return synaptic, weighted, (len(a) * len(b) + len(a) + len(b)) * x.shape[1]
