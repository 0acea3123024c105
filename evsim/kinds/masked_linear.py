"""``masked_linear``: ``linear`` restricted to the tokens a ``halting`` or ``token_merge`` layer
leaves active.

    y[n] = W x[n] + b   for active tokens n;   y[n] = 0 for halted ones (no events, no bias)

Inputs: [x, gate]. A halted (or merged-away) token's input row sends no events (its synaptic
events are exactly the ones saved), gets no bias addition, and its output row is zero. With
every token active it is ``linear`` exactly. Counts: as ``linear`` over the active tokens;
``tokens`` = active tokens, ``dense_synaptic_ops`` = active tokens × D_in × D_out.
Expected counts: x's declared rate is per element (inactive rows are zero, so it already
holds the saving); tokens, dense operations and bias additions scale with the gate's expected
``active`` fraction a: tokens = a·N, dense = a·N·D_in·D_out, bias additions = a·N·D_out.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..spec.registry import register
from . import synaptic
from .halting import active_fraction, active_tokens, expect_tokens_input, record_tokens_input
from .linear import Linear


@register
@dataclass
class MaskedLinear(Linear):
    kind: ClassVar[str] = "masked_linear"
    arity: ClassVar[int | None] = 2

    def output_shape(self, in_shapes):
        return super().output_shape(in_shapes[:1])

    def parameter_shapes(self, in_shapes):
        return super().parameter_shapes(in_shapes[:1])

    def dense_ops(self, in_shapes, out_shape):
        return super().dense_ops(in_shapes[:1], out_shape)

    def synapses(self, in_shapes, out_shape):
        return super().synapses(in_shapes[:1], out_shape)

    @staticmethod
    def _masked(inputs):
        active = active_tokens(inputs[1])
        return inputs[0] * active[..., None], active

    def dense(self, plan, inputs, state):
        x, active = self._masked(inputs)
        return super().dense(plan, [x], state) * active[..., None]

    def event(self, plan, inputs, state, counts, steps):
        x, active = self._masked(inputs)
        out = super().event(plan, [x], state, counts, steps) * active[..., None]
        record_tokens_input(inputs, plan["facts"], counts, steps)
        self._per_active_token(plan["facts"], plan["bias"] is not None, active, counts, steps)
        return out

    def event_dense(self, plan, inputs, state, counts, steps):
        x, active = self._masked(inputs)
        out = super().event_dense(plan, [x], state, counts, steps) * active[..., None]
        record_tokens_input(inputs, plan["facts"], counts, steps)
        self._per_active_token(plan["facts"], plan["bias"] is not None, active, counts, steps)
        return out

    def _per_active_token(self, facts, has_bias, active, counts, steps):
        n_active = active.sum(axis=1)
        tokens = facts.in_shapes[0][0]
        counts["tokens"][steps] = n_active
        counts["dense_synaptic_ops"][steps] = facts.synapses // tokens * n_active
        counts["bias_adds"][steps] = n_active * self.out_features if has_bias else 0

    def count(self, params, inputs, output, facts, counts):
        x, active = self._masked(inputs)
        super().count(params, [x], output, facts, counts)
        record_tokens_input(inputs, facts, counts)
        self._per_active_token(facts, "bias" in params, active, counts, slice(None))

    def detail(self, stats, facts):
        return synaptic.detail(stats, facts, synapses=facts.synapses * sum(s.steps for s in stats))

    def expected(self, facts, in_rates, out_rate, counts):
        super().expected(facts, in_rates, out_rate, counts)
        a = active_fraction(in_rates[1])
        for field in ("tokens", "dense_synaptic_ops", "bias_adds"):
            counts[field][:] = counts[field] * a
        expect_tokens_input(facts, in_rates, counts)
