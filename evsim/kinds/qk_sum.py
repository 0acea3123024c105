"""``qk_token_sum`` and ``qk_channel_sum``: the sums of QKFormer's Q-K attention (Zhou et al.,
NeurIPS 2024, arXiv 2403.16552; ``Token_QK_Attention`` in zhouchenlin2096/QKFormer), per step:

    qk_token_sum    y[n, h] = Σ_{j ∈ head h} Q[n, j]     Q ∈ {0,1}^{N×D}, head h = channels h·d … h·d + d − 1
    qk_channel_sum  y[0, j] = Σ_n Q[n, j]                (a column sum over tokens)

Q-K token attention (QKTA, the official code's ``torch.sum(q, dim=3)`` over the d = D/heads
channels of each head) and Q-K channel attention (QKCA, the paper's Eq. for the channel form)
are each this sum, a spiking neuron and a mask — three layers of a spec:

    QKTA:  A_t = SN(qk_token_sum(Q)) ∈ {0,1}^{N×heads},   X = K ⊙ A_t   (mask, a token gate per head)
    QKCA:  A_c = SN(qk_channel_sum(Q)) ∈ {0,1}^{1×D},     X = K ⊙ A_c   (mask, a channel gate)

SN is an ordinary ``lif`` layer (the official ``attn_lif``, threshold 0.5) and ⊙ the ``mask``
kind: a selection of binary spikes by a binary gate (an AND), no arithmetic.

Counts per step: each spike of Q is one addition into its group's accumulator, so synaptic
events = nnz(Q) (exact, binary × binary work as events); the dense count is N·D (every
element). The event step visits Q's events only. Expected, Q at rate r: r·N·D additions; an
output sums g independent spikes (g = d for the token sum, N for the channel sum), so it is
nonzero with 1 − (1 − r)^g and carries g·r on average.
"""
from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..spec.layer import INTEGER, ShapeProblem, require_rank, require_spikes
from ..spec.registry import register
from ..stats import Rate
from . import kernels
from .base import Kind, per_step

ADDITION_FIELDS = ("synaptic_events", "weighted_synaptic_events", "synaptic_events_nonzero")


@dataclass
class SpikeSum(Kind):
    """A sum of binary spikes over groups of one [N, D] input (the shared counting)."""
    step_local: ClassVar[bool] = True

    rate_rule: ClassVar[str] = "Q independent: events 1 − (1 − r)^g, spikes g·r (g spikes summed per output)"

    @abstractmethod
    def group_size(self, in_shape) -> int:
        """Input elements summed into one output."""

    @abstractmethod
    def targets(self, index, n_tokens, width) -> np.ndarray:
        """Flat output index of each flat input index (row-major [N, D] in)."""

    def check_input(self, in_shapes):
        require_rank(in_shapes[0], (2,), "q")
        return in_shapes[0]

    def output_values(self, in_values):
        require_spikes(in_values, ["q"])
        return INTEGER

    def dense_ops(self, in_shapes, out_shape):
        n, width = in_shapes[0]
        return n * width

    def synapses(self, in_shapes, out_shape):
        return self.dense_ops(in_shapes, out_shape)

    def prepare(self, params, dtype, facts, engine):
        return {"facts": facts}

    def event(self, plan, inputs, state, counts, steps):
        q = inputs[0]
        facts = plan["facts"]
        S, N, D = q.shape
        out = np.zeros((S, *facts.out_shape), dtype=q.dtype)
        for s, t in enumerate(range(steps.start, steps.stop)):
            index, _ = kernels.extract_events(q[s].reshape(-1))
            np.add.at(out[s].reshape(-1), self.targets(index, N, D), 1)
            for field in ADDITION_FIELDS:
                counts[field][t] = len(index)
        self._dense_counts(facts, counts, steps)
        return out

    def _dense_counts(self, facts, counts, steps):
        counts["dense_synaptic_ops"][steps] = facts.synapses
        counts["dense_macs"][steps] = facts.dense_ops
        counts["tokens"][steps] = facts.in_shapes[0][0]

    def count(self, params, inputs, output, facts, counts):
        """Brute force: one addition per nonzero element of Q."""
        additions = np.count_nonzero(per_step(inputs[0]), axis=1)
        for field in ADDITION_FIELDS:
            counts[field][:] = additions
        self._dense_counts(facts, counts, slice(None))

    def expected(self, facts, in_rates, out_rate, counts):
        for field in ADDITION_FIELDS:
            counts[field][:] = in_rates[0].events * facts.synapses
        self._dense_counts(facts, counts, slice(None))

    def output_rate(self, facts, in_rates):
        r, g = in_rates[0].events, self.group_size(facts.in_shapes[0])
        return Rate(1 - (1 - r) ** g, g * r)


@register
@dataclass
class QKTokenSum(SpikeSum):
    heads: int = 1
    kind: ClassVar[str] = "qk_token_sum"

    def __post_init__(self):
        if isinstance(self.heads, bool) or not isinstance(self.heads, int) or self.heads < 1:
            raise ShapeProblem(f"'heads' must be a positive int, got {self.heads!r}")

    def output_shape(self, in_shapes):
        n, width = self.check_input(in_shapes)
        if width % self.heads:
            raise ShapeProblem(f"{width} features are not divisible into {self.heads} heads")
        return (n, self.heads)

    def group_size(self, in_shape):
        return in_shape[1] // self.heads

    def targets(self, index, n_tokens, width):
        return (index // width) * self.heads + (index % width) // (width // self.heads)

    def dense(self, plan, inputs, state):
        q = inputs[0]
        S, N, D = q.shape
        return q.reshape(S, N, self.heads, D // self.heads).sum(axis=3)


@register
@dataclass
class QKChannelSum(SpikeSum):
    kind: ClassVar[str] = "qk_channel_sum"

    def output_shape(self, in_shapes):
        return (1, self.check_input(in_shapes)[1])

    def group_size(self, in_shape):
        return in_shape[0]

    def targets(self, index, n_tokens, width):
        return index % width

    def dense(self, plan, inputs, state):
        return inputs[0].sum(axis=1, keepdims=True)
