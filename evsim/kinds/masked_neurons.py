"""``masked_<model>``: a layer of a spiking neuron model over tokens, restricted to the tokens a
``halting`` or ``token_merge`` layer leaves active — one kind per registered binary model
(``masked_lif``…).

    active token:  (S, state) = step(X, state)      halted token: S = 0, state held

Inputs: [X, gate]. A halted token's neurons neither update nor spike (they resume from
the held state when the token is processed again at a later time step). With every token
active it is the unmasked layer exactly. Counts: neuron updates = active tokens × features.

Merged tokens (a ``token_merge`` gate, carriers c_k): before the step, the neurons of a token
b that carries a group G(b) = {k: c_k = b} of more than one original token take the group's
mean state, every state variable alike — the size-weighted average, each original token
weighing 1 —

    V_b ← (1/|G(b)|) Σ_{k∈G(b)} V_k        (V_k: token k's own state, from the previous step)

b then steps as one token; after the step every member takes b's new state, V_k ← V_b (ToMe's
unmerge), so that at the next step, which starts from the full token set again, each member
continues from the group's state. Groups whose carrier is halted hold every state. Not
counted: the averaging (|G| − 1 additions and one scaling per neuron and state variable) and
the copy back (memory traffic), next to the |G| − 1 neuron updates per neuron a merge saves.

Expected counts: neuron updates = the gate's ``active`` fraction × neurons; a firing rate
declared per neuron (the default, or the spec's ``firing_rate``) is per neuron *updated*, so
the layer's per-element output rate is that rate × the active fraction.
"""
from __future__ import annotations

import dataclasses
from typing import ClassVar

import numpy as np

from .. import neurons
from ..spec.registry import LAYER_KINDS, register
from ..stats import Rate
from . import spiking
from .base import per_step
from .halting import active_fraction, active_tokens, expect_tokens_input, record_tokens_input
from .token_merge import carriers


class MaskedNeuronLayer:
    """Mixin over a generated neuron layer class (``evsim.kinds.spiking``)."""

    arity: ClassVar[int | None] = 2

    def output_shape(self, in_shapes):
        return in_shapes[0]

    def prepare(self, params, dtype, facts, engine):
        return {**super().prepare(params, dtype, facts, engine), "facts": facts}

    def dense(self, plan, inputs, state):
        x, active, carrier = inputs[0], active_tokens(inputs[1]), carriers(inputs[1])
        p = plan["params"]
        current = state.get("neuron") or self.model.initial_state(x.shape[1:], p, x.dtype)
        out = np.zeros_like(x)
        for s in range(x.shape[0]):
            keep = active[s][:, None]
            merged = None if carrier is None else merged_groups(carrier[s], active[s])
            if merged is not None:
                current = self.model.State(*(group_mean(v, *merged) for v in current))
            spikes, stepped = self.model.step(x[s], current, p)
            out[s] = spikes * keep
            current = self.model.State(*(np.where(keep, new, old) for new, old in zip(stepped, current)))
            if merged is not None:
                members, dest, _ = merged
                current = self.model.State(*(copy_back(v, members, dest) for v in current))
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
        counts["neuron_updates"][:] = active_fraction(in_rates[1]) * facts.out_elements
        expect_tokens_input(facts, in_rates, counts)

    def per_element_rate(self, facts, rate, in_rates):
        a = active_fraction(in_rates[1])
        return rate if a == 1.0 else Rate(rate.events * a, rate.spikes * a, rate.detail)


def merged_groups(carrier: np.ndarray, active: np.ndarray):
    """(members, their carrier, carriers) of the groups of more than one original token whose
    carrier is processed this step; None if there is none."""
    members = np.flatnonzero(active[carrier] & (carrier != np.arange(len(carrier))))
    if len(members) == 0:
        return None
    receivers = np.unique(carrier[members])
    return np.concatenate([members, receivers]), np.concatenate([carrier[members], receivers]), receivers


def group_mean(v: np.ndarray, members, dest, receivers) -> np.ndarray:
    """v with each receiver's row replaced by the mean over its group's rows."""
    v = np.array(v, copy=True)
    sums = np.zeros_like(v)
    np.add.at(sums, dest, v[members])
    v[receivers] = sums[receivers] / np.bincount(dest, minlength=len(v))[receivers][:, None]
    return v


def copy_back(v: np.ndarray, members, dest) -> np.ndarray:
    v = v.copy()
    v[members] = v[dest]
    return v


def masked_kind(model) -> type:
    base = LAYER_KINDS.get(model.NAME) or spiking.neuron_kind(model)
    cls = dataclasses.make_dataclass(f"Masked{base.__name__}", [], bases=(MaskedNeuronLayer, base),
                                     namespace={"kind": f"masked_{model.NAME}", "__module__": __name__,
                                                "__doc__": f"{model.NAME} restricted to active tokens; " + __doc__})
    return register(cls)


for _model in list(neurons.NEURON_MODELS.values()):
    if _model.OUTPUT_VALUES == "binary":
        masked_kind(_model)
