"""Layers of neurons: every registered neuron model (``evsim.neurons``) is a layer kind whose
spec options are its ``Parameters`` fields (``kind: lif, tau: 2.0, v_threshold: 0.5``), except
those the model names in ``LEARNED``: these are the layer's parameters, read from the weights
file (``<layer>.w`` for PLIF), shaped by ``learned_shapes`` and put into ``Parameters`` by
``prepare`` — so ``step`` sees them like any other parameter.

Both engines drive the model's pure ``step`` over the layer's steps; the layer's state
(any number of variables) carries over between calls. A model's ``PER_NEURON`` parameters may
come per neuron from the weights file instead (``per_neuron: [tau, v_threshold]``: entries
``<layer>.tau`` of the layer's output shape), as NIR stores them. Counts: one neuron update per
neuron per step, and the output events (spikes) per step. Expected counts: updates as
counted, spikes = declared rate × neurons.
"""
from __future__ import annotations

import dataclasses
import math
from typing import ClassVar

import numpy as np

from .. import neurons
from ..errors import EvsimError
from ..spec.layer import BINARY, ShapeProblem
from ..spec.registry import register
from ..stats import events_per_step
from .base import Kind, per_step


class NeuronLayer(Kind):
    """Base of the generated kinds; ``model`` is the neuron model module."""

    model: ClassVar = None
    rate_is_declared: ClassVar[bool] = True
    rate_rule: ClassVar[str] = "declared (a firing rate, or the default)"

    def __post_init__(self):
        allowed = getattr(self.model, "PER_NEURON", ())
        if allowed:  # the option exists only for such models (PLIF's own per_neuron is one of its Parameters)
            per_neuron = self.per_neuron
            if not isinstance(per_neuron, (list, tuple)) or any(name not in allowed for name in per_neuron):
                raise ShapeProblem(f"'per_neuron' must list parameters of {', '.join(allowed)}, got {per_neuron!r}")
            self.per_neuron = tuple(per_neuron)
        try:
            self.model.check(self.parameters())
        except ValueError as err:
            raise ShapeProblem(str(err)) from None

    def parameters(self, params=None, dtype=np.float64):
        """The model's Parameters: spec options; learned fields and per-neuron entries from
        ``params`` (the layer's weights) when given, else learned fields at their defaults."""
        values = {name: getattr(self, name) for name in self.model.Parameters._fields if name not in learned(self.model)}
        if params is not None:
            for name in (*learned(self.model), *self.per_neuron_parameters()):
                values[name] = np.asarray(params[name], dtype=dtype)
        return self.model.Parameters(**values)

    def per_neuron_parameters(self) -> tuple:
        """The parameters this layer takes per neuron from its weights file (``per_neuron: [...]``)."""
        return tuple(self.per_neuron) if getattr(self.model, "PER_NEURON", ()) else ()

    def output_values(self, in_values):
        return self.model.OUTPUT_VALUES

    def parameter_shapes(self, in_shapes):
        """Learned parameters (the model's ``learned_shapes``) and per-neuron ones (the layer's shape)."""
        shapes = self.model.learned_shapes(self.parameters(), in_shapes[0]) if learned(self.model) else {}
        shapes.update({name: tuple(self.output_shape(in_shapes)) for name in self.per_neuron_parameters()})
        return shapes

    def initial_params(self, shapes, rng):
        """Learned parameters at the model's initial values; per-neuron ones at the spec's value."""
        own = {k: v for k, v in shapes.items() if k in learned(self.model)}
        values = self.model.initial_learned(self.parameters(), own, rng) if own else {}
        values.update({name: np.full(shape, float(getattr(self, name))) for name, shape in shapes.items() if name not in own})
        return values

    def prepare(self, params, dtype, facts, engine):
        missing = [n for n in learned(self.model) if n not in params]
        if missing:
            raise EvsimError(f"neuron layer '{self.name}' has no learned {', '.join(missing)}", file=self.origin,
                             fix="load weights that hold them (evsim.synthetic_weights draws initial values)")
        p = self.parameters(params, dtype)
        try:
            self.model.check(p)
        except ValueError as err:
            raise EvsimError(f"per-neuron parameters: {err}", layer=self.name, fix="fix the weights file") from None
        return {"params": p}

    def dense(self, plan, inputs, state):
        x, p = inputs[0], plan["params"]
        current = state.get("neuron")
        if current is None:
            current = self.model.initial_state(x.shape[1:], p, x.dtype)
        fast = getattr(self.model, "run_steps", None)
        result = fast(x, current, p) if fast is not None else None
        if result is not None:
            out, state["neuron"] = result
            return out
        out = np.empty_like(x)
        for s in range(x.shape[0]):
            out[s], current = self.model.step(x[s], current, p)
        state["neuron"] = current
        return out

    def event(self, plan, inputs, state, counts, steps):
        out = self.dense(plan, inputs, state)
        counts["neuron_updates"][steps] = math.prod(out.shape[1:])
        counts["output_spikes"][steps] = events_per_step(out)
        return out

    def count(self, params, inputs, output, facts, counts):
        counts["neuron_updates"][:] = facts.out_elements
        counts["output_spikes"][:] = per_step(output != 0).sum(axis=1)

    def expected(self, facts, in_rates, out_rate, counts):
        counts["neuron_updates"][:] = facts.out_elements
        counts["output_spikes"][:] = out_rate.spikes * facts.out_elements


def learned(model) -> tuple:
    """Names of the model's parameters that come from the weights file, not from the spec."""
    return tuple(getattr(model, "LEARNED", ()))


def neuron_kind(model) -> type:
    """The layer kind of a neuron model, registered under ``model.NAME``."""
    defaults = model.Parameters._field_defaults
    annotations = getattr(model.Parameters, "__annotations__", {})
    fields = [(name, annotations.get(name, "float"), dataclasses.field(default=defaults.get(name)))
              for name in model.Parameters._fields if name not in learned(model)]
    if getattr(model, "PER_NEURON", ()):
        fields.append(("per_neuron", "object", dataclasses.field(default=())))
    class_name = "".join(part.capitalize() for part in model.NAME.split("_")) + "Layer"
    cls = dataclasses.make_dataclass(class_name, fields, bases=(NeuronLayer,),
                                     namespace={"kind": model.NAME, "model": model,
                                                "spiking": model.OUTPUT_VALUES == BINARY,
                                                "rate_is_declared": model.OUTPUT_VALUES == BINARY,
                                                "__doc__": model.__doc__, "__module__": __name__})
    return register(cls)


def add_neuron_model(model) -> type:
    """Register a neuron model and its layer kind (what a plug-in model calls)."""
    neurons.register(model)
    return neuron_kind(model)


for _model in list(neurons.NEURON_MODELS.values()):
    neuron_kind(_model)
