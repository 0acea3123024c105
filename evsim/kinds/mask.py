"""``mask``: spikes X gated by a binary gate G broadcast over X, y = X ⊙ G, per step.

    G of shape [1, D]       y[n, j] = X[n, j] · G[0, j]            a channel mask (SDSA's Q ⊙ SN(·))
    G of shape [N, heads]   y[n, j] = X[n, j] · G[n, j // (D/heads)]  a token mask per head

Masking binary spikes is a selection, not arithmetic: no addition or multiplication is done,
so the kind is passive (counts nothing beyond its inputs). Spike-Driven Transformer's SDSA
uses the first form (Yao et al., NeurIPS 2023: "the operations between Q, K and V are mask
and addition"); the additions are counted by ``sdsa_sum``. QKFormer's Q-K token attention
uses the second (K ⊙ SN(Σ_head Q)), its channel attention the first; their additions are
counted by ``qk_token_sum`` and ``qk_channel_sum``.
Expected rate, X and G independent: r_x · r_g.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..spec.layer import ShapeProblem, require_rank, require_spikes
from ..spec.registry import register
from ..stats import Rate
from .base import Passive


@register
@dataclass
class Mask(Passive):
    step_local: ClassVar[bool] = True
    kind: ClassVar[str] = "mask"
    arity: ClassVar[int | None] = 2
    rate_rule: ClassVar[str] = "X and G independent: r_x · r_g"

    def output_shape(self, in_shapes):
        x, g = in_shapes
        require_rank(x, (2,), "x")
        require_rank(g, (2,), "the gate")
        n, width = x
        if g[0] == 1 and g[1] == width:
            return x
        if g[0] == n and width % g[1] == 0:
            return x
        raise ShapeProblem(f"a gate for x of shape {list(x)} is [1, {width}] (channels) or [{n}, heads] "
                           f"(tokens per head), got {list(g)}")

    def output_values(self, in_values):
        require_spikes(in_values[1:], ["the gate"])
        return in_values[0]

    def dense(self, plan, inputs, state):
        x, g = inputs
        S, n, width = x.shape
        if g.shape[1] == 1 and g.shape[2] == width:
            return x * g
        return (x.reshape(S, n, g.shape[2], -1) * g[..., None]).reshape(x.shape)

    def output_rate(self, facts, in_rates):
        rx, rg = in_rates
        return Rate(rx.events * rg.events, rx.spikes * rg.events)
