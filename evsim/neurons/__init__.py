"""Neuron models, one module each, in Norse's style: a ``Parameters`` and a ``State`` named
tuple and a pure ``step(x, state, params) -> (output, state)`` that every engine and the
Brian2 twins share, so "the same neuron" means the same arithmetic, operation for operation.

A model module (or any object with these attributes) provides:

    NAME                  the layer kind it becomes in a spec (``kind: lif``)
    OUTPUT_VALUES         'binary' (spikes) or 'analog' (e.g. LCA activations)
    Parameters, State     named tuples; Parameters' fields with defaults are the spec options
    check(p)              raise ValueError with a message for invalid parameters
    initial_state(shape, p, dtype) -> State
    step(x, state, p) -> (output, State)
    twin(p) -> Twin       its Brian2 twin, as equations (no Brian2 import here)
    CROSSVAL              {case name: (Parameters, description)} that ``evsim crossval`` runs
    tie_input(p)          optional: the input that takes a neuron at rest exactly onto threshold
    max_steps(p)          optional: the most steps the model can run (a history of fixed length)
    LEARNED               optional: names of Parameters fields loaded from a weights file, not written
                          in the spec (e.g. PLIF's ``w``); then also
    learned_shapes(p, shape) -> {name: shape}   their shapes for a layer of neurons of that shape
    initial_learned(p, shapes, rng) -> {name: array}   values for synthetic networks
    PER_NEURON            optional: the parameters a layer may take per neuron from its weights
                          file (``per_neuron: [tau, v_threshold]`` in the spec; NIR stores arrays)
    run_steps(x, state, p) -> (outputs, State) | None
                          optional: all S steps of x [S, ...] at once (a compiled pass), equal
                          to S calls of ``step`` bit for bit; None where it does not apply

Register with :func:`register` (``evsim.kinds.spiking`` also makes it a layer kind).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

NEURON_MODELS: dict = {}
REQUIRED = ("NAME", "OUTPUT_VALUES", "Parameters", "State", "check", "initial_state", "step", "twin", "CROSSVAL")


class Twin(NamedTuple):
    """A neuron model's Brian2 twin. One evsim step is one ``defaultclock.dt``; the input
    X[t] enters the equations as ``I(t, i)`` (a TimedArray); ``step`` is one step as a time."""

    equations: str
    threshold: str | None          # None: no spikes (the output is a state function)
    reset: str | None
    constants: dict                # dimensionless names used by the equations
    time_constants: dict           # names → value in steps (scalars, or arrays per neuron)
    initial: dict                  # variable → initial value
    monitor: str                   # the state variable compared with evsim's
    output: str | None = None      # without threshold: the recorded output subexpression
    time_series: dict | None = None  # name → values per step, [T] (one for all neurons): TimedArrays name(t)


def register(model):
    """Add a neuron model (a module or namespace with the attributes in this module's docstring)."""
    missing = [a for a in REQUIRED if not hasattr(model, a)]
    if missing:
        from ..errors import EvsimError
        raise EvsimError(f"neuron model {getattr(model, 'NAME', model)!r} lacks {', '.join(missing)}",
                         fix="see evsim/neurons/__init__.py for what a neuron model provides")
    NEURON_MODELS[model.NAME] = model
    return model


def run(model, x, p):
    """Drive a layer of neurons with X[0..T−1] (leading axis time): returns (outputs [T, ...],
    State of [T, ...] arrays: every state variable after each step)."""
    state = model.initial_state(x.shape[1:], p, x.dtype)
    outputs = np.empty_like(x)
    trace = {name: np.empty((x.shape[0], *np.shape(value)), dtype=np.asarray(value).dtype)
             for name, value in zip(model.State._fields, state)}  # a state variable may be a history, not one step
    for t in range(x.shape[0]):
        outputs[t], state = model.step(x[t], state, p)
        for name, value in zip(model.State._fields, state):
            trace[name][t] = value
    return outputs, model.State(**trace)


def fire(h, v_threshold, strict=False):
    """S = Θ(H − V_th) with Θ(0) = 1 (SpikingJelly's Heaviside), in H's dtype; ``strict``:
    Θ(0) = 0 (NIR, snnTorch and Norse fire on H > V_th)."""
    return ((h > v_threshold) if strict else (h >= v_threshold)).astype(h.dtype)


def reset(h, s, v_threshold, v_reset):
    """Hard reset V = H(1 − S) + V_reset·S, or soft (v_reset None) V = H − V_th·S."""
    if v_reset is None:
        return h - s * v_threshold
    return h * (1.0 - s) + v_reset * s


def check_reset(p):
    if p.v_reset is not None and not isinstance(p.v_reset, (int, float, np.ndarray)):
        raise ValueError(f"'v_reset' must be a number or null (soft reset), got {p.v_reset!r}")


from . import (cuba_lif, cuba_lif_decay, exp_lif, integrate_fire, integrator, lca, leaky, leaky_integrator, lif, lif_euler,  # noqa: E402,I001
               plif, saccadic, synaptic)  # the built-in models register themselves

__all__ = ["NEURON_MODELS", "Twin", "register", "run", "fire", "reset", "lif", "integrate_fire", "cuba_lif", "lca",
           "leaky", "synaptic", "lif_euler", "leaky_integrator", "integrator", "plif", "saccadic", "exp_lif", "cuba_lif_decay"]
