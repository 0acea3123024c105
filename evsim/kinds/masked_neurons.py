"""``masked_<model>``: a layer of a spiking neuron model over tokens, restricted to the tokens a
``halting`` layer leaves active — one kind per registered binary model (``masked_lif``…).

    active token:  (S, state) = step(X, state)      halted token: S = 0, state held

Inputs: [X, halting]. A halted token's neurons neither update nor spike (they resume from
the held state when the token is processed again at a later time step). With every token
active it is the unmasked layer exactly. Counts: neuron updates = active tokens × features.
"""
from __future__ import annotations

import dataclasses
from typing import ClassVar

import numpy as np

from .. import neurons
from ..spec.registry import LAYER_KINDS, register
from . import spiking
from .base import per_step
from .halting import active_tokens, expect_tokens_input, record_tokens_input


class MaskedNeuronLayer:
    """Mixin over a generated neuron layer class (``evsim.kinds.spiking``)."""

    arity: ClassVar[int | None] = 2

    def output_shape(self, in_shapes):
        return in_shapes[0]

    def prepare(self, params, dtype, facts, engine):
        return {**super().prepare(params, dtype, facts, engine), "facts": facts}

    def dense(self, plan, inputs, state):
        x, active = inputs[0], active_tokens(inputs[1])
        p = plan["params"]
        current = state.get("neuron") or self.model.initial_state(x.shape[1:], p, x.dtype)
        out = np.zeros_like(x)
        for s in range(x.shape[0]):
            keep = active[s][:, None]
            spikes, stepped = self.model.step(x[s], current, p)
            out[s] = spikes * keep
            current = self.model.State(*(np.where(keep, new, old) for new, old in zip(stepped, current)))
        state["neuron"] = current
        return out

    def event(self, plan, inputs, state, counts, steps):
        out = self.dense(plan, inputs, state)
        counts["neuron_updates"][steps] = active_tokens(inputs[1]).sum(axis=1) * out.shape[-1]
        counts["output_spikes"][steps] = np.count_nonzero(per_step(out), axis=1)
        record_tokens_input(inputs, plan["facts"], counts, steps)
        return out

    def count(self, params, inputs, output, facts, counts):
        counts["neuron_updates"][:] = active_tokens(inputs[1]).sum(axis=1) * output.shape[-1]
        counts["output_spikes"][:] = per_step(output != 0).sum(axis=1)
        record_tokens_input(inputs, facts, counts)

    def expected(self, facts, in_rates, out_rate, counts):
        super().expected(facts, in_rates, out_rate, counts)
        expect_tokens_input(facts, in_rates, counts)


def masked_kind(model) -> type:
    base = LAYER_KINDS.get(model.NAME) or spiking.neuron_kind(model)
    cls = dataclasses.make_dataclass(f"Masked{base.__name__}", [], bases=(MaskedNeuronLayer, base),
                                     namespace={"kind": f"masked_{model.NAME}", "__module__": __name__,
                                                "__doc__": f"{model.NAME} restricted to active tokens; " + __doc__})
    return register(cls)


for _model in list(neurons.NEURON_MODELS.values()):
    if _model.OUTPUT_VALUES == "binary":
        masked_kind(_model)
