"""``halting``: AT-SNN's adaptive token halting (A-ViT's ACT form) at the entry of one block.

    h_k = σ(γ · x_{k,0} − β)          from token k's first feature of the block input x
    c_k = c_k^{prev} + h_k            accumulated over the blocks of one time step (c = 0 before block 0)
    active_k = [c_k < 1 − ε]          processed by this block; once halted, halted for the step

Output per step: [N, 2] = (c_k, active_k) — the state the next block's ``halting`` reads and the
mask the masked kinds of this block (``masked_linear``, ``masked_lif``…) consume.

The reading of the paper (AT-SNN gives no code): a token's score counts the block it is about
to enter, so a token whose accumulated score reaches 1 − ε skips this block and every later one
in this step; it is carried unchanged to the head because every masked layer emits nothing
for it, so both residual sums add zero to it (y = x + 0 + 0). The scores restart at every time
step (time steps are not blocks): a token halted at step t is processed again at step t + 1,
and the neurons of a halted token hold their membrane state while it is halted. With γ = 0 and
a large β, h ≡ 0 (σ(−β) underflows to 0), nothing halts and the block is Spikformer's exactly.

Inputs: [x, previous halting] (``first: true``: the second input is ignored, c^{prev} = 0).
Counts: ``tokens`` = tokens processed by the block (active), per step; its inputs are the
block's tokens only (the previous state is bookkeeping). Expected counts: without a run no
token is known to halt; a rate declared for the layer may carry the measured fraction of
active tokens (``active``, written by ``--save-rates``), which the masked kinds' expected
counts then use.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from scipy.special import expit

from ..spec.layer import ShapeProblem, require_rank
from ..spec.registry import register
from ..stats import Rate, expect_inputs, record_inputs
from .base import Kind


@register
@dataclass
class Halting(Kind):
    gamma: float = 10.0
    beta: float = 30.0
    epsilon: float = 0.01
    first: bool = False
    kind: ClassVar[str] = "halting"
    arity: ClassVar[int | None] = 2
    detail_keys: ClassVar[tuple] = ("active",)
    rate_rule: ClassVar[str] = "no token halts without a run (a declared rate may carry the measured active fraction)"

    def __post_init__(self):
        if not 0 <= self.epsilon < 1:
            raise ShapeProblem(f"'epsilon' must be in [0, 1), got {self.epsilon!r}")

    def output_shape(self, in_shapes):
        require_rank(in_shapes[0], (2,), "its input (the block's tokens)")
        if not self.first and tuple(in_shapes[1]) != (in_shapes[0][0], 2):
            raise ShapeProblem(f"the second input must be the previous block's halting state [{in_shapes[0][0]}, 2], "
                               f"got {list(in_shapes[1])}", fix="name the previous block's halting layer, or set first: true")
        return (in_shapes[0][0], 2)

    def prepare(self, params, dtype, facts, engine):
        return {"facts": facts}

    def dense(self, plan, inputs, state):
        x = inputs[0]
        previous = np.zeros(x.shape[:2], dtype=x.dtype) if self.first else inputs[1][..., 0]
        score = previous + expit(self.gamma * x[..., 0] - self.beta).astype(x.dtype)
        return np.stack([score, (score < 1 - self.epsilon).astype(x.dtype)], axis=-1)

    def event(self, plan, inputs, state, counts, steps):
        out = self.dense(plan, inputs, state)
        counts["tokens"][steps] = out[..., 1].sum(axis=1)
        record_tokens_input(inputs, plan["facts"], counts, steps)
        return out

    def count(self, params, inputs, output, facts, counts):
        counts["tokens"][:] = np.count_nonzero(output[..., 1], axis=1)
        record_tokens_input(inputs, facts, counts)

    def detail(self, stats, facts):
        return measured_active(stats, facts)

    def expected(self, facts, in_rates, out_rate, counts):
        counts["tokens"][:] = active_fraction(out_rate) * facts.in_shapes[0][0]
        expect_tokens_input(facts, in_rates, counts)


def active_tokens(halting: np.ndarray) -> np.ndarray:
    """[S, N] booleans: the tokens a masked layer processes, from a halting output [S, N, 2]."""
    return halting[..., 1] != 0


def active_fraction(rate: Rate) -> float:
    """Expected fraction of its tokens a gate (``halting``, ``token_merge``) leaves to its
    block: its rate's ``active`` detail, 1 when none is known (without a run no token is
    known to halt)."""
    return float((rate.detail or {}).get("active", 1.0))


def measured_active(stats, facts) -> dict:
    """A gate's measured detail over runs: {'active': tokens processed / (tokens × steps)}."""
    return {"active": sum(s.total("tokens") for s in stats) / (facts.in_shapes[0][0] * sum(s.steps for s in stats))}


def record_tokens_input(inputs, facts, counts, steps=slice(None)) -> None:
    """A masked layer's input counts are those of its data input alone (the halting state it
    also reads is not a synaptic input): the engine's record over both inputs is redone."""
    record_inputs(inputs[:1], facts.in_values[:1], counts, steps)


def expect_tokens_input(facts, in_rates, counts) -> None:
    expect_inputs(dataclasses.replace(facts, in_shapes=facts.in_shapes[:1], in_values=facts.in_values[:1]),
                  in_rates[:1], counts)
