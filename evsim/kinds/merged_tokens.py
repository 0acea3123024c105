"""``merged_tokens``: a block's input with its ``token_merge`` layer's merges applied — ToMe's
size-weighted average (Bolya et al., ICLR 2023).

    x'_b = Σ_{k∈G(b)} s_k x_k / Σ_{k∈G(b)} s_k     for a token b that receives merges,
                                                   G(b) = {k alive at entry: carrier_k = b}
    x'_b = x_b                                     for a token that neither merges nor receives
                                                   one (halted tokens included)
    x'_a = 0                                       for a token merged away (now or earlier in the step)

(s_k: size at the block's entry, column 3 of the token state; carrier: column 2.) A token
merged away at an earlier block has s = 0 and a zero row already: every masked layer emitted
nothing for it, so the residual sums carried 0 + 0 + 0.

Spikes: merged spike counts are averages, hence analog. The output is analog when the
``token_merge`` layer can merge (its state's value kind), x's value kind otherwise (the layer is
then the identity). Layers reading the merged stream count its events as evsim counts every
analog input (evsim's value kind is per layer: a convention pricing analog inputs as MAC
prices every event of such a layer as a MAC, a merged token's or not).

Inputs: [x, token state]. Counts (the averaging), per step, over the groups with a merge:
    synaptic_events = Σ_G (Σ_{k∈G} nnz(x_k) + nnz(x'_b))   one multiply-accumulate s_k·x_kj per
                      nonzero member feature, one scaling by 1/s'_b per nonzero sum
    weighted (integer x): Σ_G (Σ_{k∈G} Σ_j x_kj + nnz(x'_b));  tokens: the tokens the block processes.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..spec.layer import ANALOG, INTEGER, ShapeProblem, require_rank
from ..spec.registry import register
from ..stats import Rate
from .base import Kind
from .halting import active_fraction, active_tokens, expect_tokens_input, record_tokens_input
from .token_merge import CARRIER, ENTRY_SIZE, SIZE, STATE_WIDTH, WORK_KEYS, expect_work, measured_work


def groups(state: np.ndarray):
    """One step's merges: (members: tokens alive at entry whose group has a merge, their
    destinations, the destinations)."""
    size = state[:, ENTRY_SIZE]
    carrier = np.rint(state[:, CARRIER]).astype(np.int64)
    alive = np.flatnonzero(size > 0)
    receivers = np.flatnonzero(np.bincount(carrier[alive], minlength=len(size)) > 1)
    members = alive[np.isin(carrier[alive], receivers)]
    return members, carrier[members], receivers


@register
@dataclass
class MergedTokens(Kind):
    kind: ClassVar[str] = "merged_tokens"
    arity: ClassVar[int | None] = 2
    detail_keys: ClassVar[tuple] = WORK_KEYS
    rate_rule: ClassVar[str] = "a fixed r's merges land on distinct tokens, x's events independent"

    def output_shape(self, in_shapes):
        require_rank(in_shapes[0], (2,), "its input (the block's tokens)")
        if tuple(in_shapes[1]) != (in_shapes[0][0], STATE_WIDTH):
            raise ShapeProblem(f"the second input must be a token_merge state [{in_shapes[0][0]}, {STATE_WIDTH}], "
                               f"got {list(in_shapes[1])}", fix="name the block's token_merge layer")
        return in_shapes[0]

    def output_values(self, in_values):
        return ANALOG if in_values[1] == ANALOG else in_values[0]

    def prepare(self, params, dtype, facts, engine):
        return {"facts": facts}

    def dense(self, plan, inputs, state):
        x, token_state = inputs
        out = x.copy()
        for s in range(x.shape[0]):
            members, dest, receivers = groups(token_state[s])
            if len(receivers) == 0:
                continue
            weight = token_state[s, members, ENTRY_SIZE]
            sums = np.zeros(x.shape[1:], dtype=x.dtype)
            np.add.at(sums, dest, weight[:, None] * x[s, members])
            out[s, members] = 0
            out[s, receivers] = sums[receivers] / token_state[s, receivers, SIZE][:, None]
        out[token_state[..., ENTRY_SIZE] == 0] = 0   # merged away earlier in the step: already zero
        return out

    def event(self, plan, inputs, state, counts, steps):
        out = self.dense(plan, inputs, state)
        self._count(plan["facts"], inputs, out, counts, range(steps.start, steps.stop), steps)
        return out

    def count(self, params, inputs, output, facts, counts):
        self._count(facts, inputs, output, counts, range(output.shape[0]), slice(None))

    def _count(self, facts, inputs, out, counts, times, steps):
        x, token_state = inputs
        for s, t in enumerate(times):
            members, _, receivers = groups(token_state[s])
            sums = np.count_nonzero(out[s, receivers])
            counts["synaptic_events"][t] = counts["synaptic_events_nonzero"][t] = np.count_nonzero(x[s, members]) + sums
            counts["weighted_synaptic_events"][t] = (round(float(x[s, members].sum())) + sums
                                                     if facts.in_values[0] == INTEGER else counts["synaptic_events"][t])
            counts["dense_synaptic_ops"][t] = (len(members) + len(receivers)) * x.shape[2]
        counts["tokens"][steps] = active_tokens(token_state).sum(axis=1)
        record_tokens_input(inputs, facts, counts, steps)

    def _expected_merges(self, facts, in_rates):
        """Per step: merges m, and x's event and spike rates per element of a token alive at
        the entry (ρ, v): of n = entered·N tokens, m merge into m others (distinct, under a
        fixed r and independence), so n − 2m keep ρ, m leave and m sums are nonzero with
        probability 1 − (1 − ρ)²."""
        n_all = facts.in_shapes[0][0]
        active = active_fraction(in_rates[1])
        entered = (in_rates[1].detail or {}).get("entered", active)
        m = (entered - active) * n_all
        rho = min(1.0, in_rates[0].events / entered) if entered else 0.0
        v = in_rates[0].spikes / entered if entered else 0.0
        return m, rho, v, entered * n_all

    def output_rate(self, facts, in_rates):
        if facts.out_values != ANALOG:
            return in_rates[0]
        m, rho, _, n = self._expected_merges(facts, in_rates)
        events = (rho * (n - 2 * m) + (1 - (1 - rho) ** 2) * m) / facts.in_shapes[0][0]
        return Rate(events, events)

    def detail(self, stats, facts):
        return measured_work(stats, facts)

    def expected(self, facts, in_rates, out_rate, counts):
        n_all, width = facts.in_shapes[0]
        m, rho, v, _ = self._expected_merges(facts, in_rates)
        expect_tokens_input(facts, in_rates, counts)
        counts["tokens"][:] = active_fraction(in_rates[1]) * n_all
        sums = m * (1 - (1 - rho) ** 2) * width
        synaptic = 2 * m * rho * width + sums
        weighted = 2 * m * v * width + sums if facts.in_values[0] == INTEGER else synaptic
        expect_work(facts, out_rate, counts, synaptic, weighted, 3 * m * width)
