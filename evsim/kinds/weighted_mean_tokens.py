"""``weighted_mean_tokens``: the size-weighted mean over tokens — the head's token mean after
token merging (ToMe), so that a merged token counts as the tokens it stands for.

    y[D] = Σ_n s_n x[n, D] / Σ_n s_n          s: sizes (column 0 of a ``token_merge`` state)

A token merged away has s = 0 (its features live on in its carrier's row, weighted by the
carrier's size); halted tokens keep their size. With no merge every s = 1 and y is the plain
mean (1/N) Σ_n x[n, D], bit for bit. Inputs: [x, token state]; counts nothing beyond x's
events (as ``mean_tokens``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..spec.layer import ShapeProblem, require_rank
from ..spec.registry import register
from .base import Passive
from .halting import expect_tokens_input, record_tokens_input
from .token_merge import SIZE, STATE_WIDTH


@register
@dataclass
class WeightedMeanTokens(Passive):
    kind: ClassVar[str] = "weighted_mean_tokens"
    arity: ClassVar[int | None] = 2

    def output_shape(self, in_shapes):
        require_rank(in_shapes[0], (2,), "its input")
        if tuple(in_shapes[1]) != (in_shapes[0][0], STATE_WIDTH):
            raise ShapeProblem(f"the second input must be a token_merge state [{in_shapes[0][0]}, {STATE_WIDTH}], "
                               f"got {list(in_shapes[1])}", fix="name the last block's token_merge layer")
        return (in_shapes[0][1],)

    def prepare(self, params, dtype, facts, engine):
        return {"facts": facts}

    def dense(self, plan, inputs, state):
        x, size = inputs[0], inputs[1][..., SIZE]
        # Σ s x / Σ s in the order np.mean sums (one reduction over axis 1, then one division)
        return np.sum(x * size[..., None], axis=1) / np.sum(size, axis=1)[:, None]

    def event(self, plan, inputs, state, counts, steps):
        record_tokens_input(inputs, plan["facts"], counts, steps)
        return self.dense(plan, inputs, state)

    def count(self, params, inputs, output, facts, counts):
        record_tokens_input(inputs, facts, counts)

    def expected(self, facts, in_rates, out_rate, counts):
        expect_tokens_input(facts, in_rates, counts)
