"""``plif``: parametric LIF — LIF whose membrane time constant is learned (intrinsic plasticity,
DISTA; Fang et al. 2021), in SpikingJelly's parametrisation (``ParametricLIFNode``,
``spikingjelly/clock_driven/neuron.py`` of 0.0.0.0.14): a learned weight ``w`` with

    1/τ = k = sigmoid(w) = 1 / (1 + e^{−w}),   i.e.  τ = 1 + e^{−w},   w₀ = −ln(τ₀ − 1)

    charge   H[t] = V[t−1] + (X[t] − (V[t−1] − V_reset)) · k                (decay_input)
             H[t] = V[t−1] − (V[t−1] − V_reset) · k + X[t]                   (otherwise)
    fire     S[t] = [H[t] ≥ V_th];  reset as LIF (hard to V_reset, or soft: V = H − V_th S).

Written exactly as SpikingJelly writes it (× k, not ÷ τ; the V_reset = 0 forms apart), so a
float64 run equals SpikingJelly's forward bit for bit. ``w`` is a layer parameter read from
the weights file (``<layer>.w``): one scalar per layer as SpikingJelly holds it
(``per_neuron: false``), or one per neuron (``per_neuron: true``, DISTA's "per neuron" reading).
e^{−w} of a per-layer w is the C library's (``math.exp``), as PyTorch computes a 0-d tensor's
sigmoid; a per-neuron w uses NumPy's exp.
"""
from __future__ import annotations

import math
import sys
from typing import NamedTuple

import numpy as np

from . import Twin, check_reset, fire, register, reset

NAME = "plif"
OUTPUT_VALUES = "binary"
LEARNED = ("w",)


class Parameters(NamedTuple):
    init_tau: float = 2.0        # τ₀ (> 1 step) of synthetic weights: w₀ = −ln(τ₀ − 1), SpikingJelly's init
    v_threshold: float = 1.0
    v_reset: float | None = 0.0
    decay_input: bool = True
    per_neuron: bool = False     # one learned w per neuron instead of one per layer
    w: object = None             # learned: 0-d (per layer) or the layer's shape (per neuron)


class State(NamedTuple):
    v: np.ndarray


def check(p: Parameters):
    if isinstance(p.init_tau, bool) or not isinstance(p.init_tau, (int, float)) or p.init_tau <= 1:
        raise ValueError(f"'init_tau' must be a number > 1 (in time steps), got {p.init_tau!r}")
    if not isinstance(p.per_neuron, bool):
        raise ValueError(f"'per_neuron' must be true or false, got {p.per_neuron!r}")
    if p.w is not None and not np.all(np.isfinite(p.w)):
        raise ValueError("the learned 'w' holds NaN or infinite values")
    check_reset(p)


def learned_shapes(p: Parameters, shape) -> dict:
    return {"w": tuple(shape) if p.per_neuron else ()}


def initial_learned(p: Parameters, shapes, rng) -> dict:
    """SpikingJelly's initial w = −ln(τ₀ − 1); per neuron, τ drawn around τ₀ (τ₀·[0.75, 1.5], τ > 1)."""
    if not shapes["w"]:
        return {"w": np.asarray(-math.log(p.init_tau - 1.0))}
    tau = np.maximum(p.init_tau * rng.uniform(0.75, 1.5, shapes["w"]), 1.05)
    return {"w": -np.log(tau - 1.0)}


def decay(w):
    """k = sigmoid(w) = 1/τ, in the dtype of ``w``."""
    w = np.asarray(w)
    if w.ndim == 0:
        return w.dtype.type(1.0 / (1.0 + math.exp(-float(w))))
    return 1.0 / (1.0 + np.exp(-w))


def tau(w):
    """τ = 1/sigmoid(w) = 1 + e^{−w} in steps."""
    return 1.0 / decay(np.asarray(w, dtype=np.float64))


def initial_state(shape, p: Parameters, dtype) -> State:
    return State(np.full(shape, 0.0 if p.v_reset is None else p.v_reset, dtype=dtype))


def charge(v, x, p: Parameters):
    k = decay(p.w)
    if p.v_reset is None or p.v_reset == 0.0:
        return v + (x - v) * k if p.decay_input else v * (1.0 - k) + x
    if p.decay_input:
        return v + (x - (v - p.v_reset)) * k
    return v - (v - p.v_reset) * k + x


def step(x, state: State, p: Parameters):
    h = charge(state.v, x, p)
    s = fire(h, p.v_threshold)
    return s, State(reset(h, s, p.v_threshold, p.v_reset))


def twin(p: Parameters) -> Twin:
    """decay_input: τ dv/dt = −(v − V_reset) + X; otherwise τ dv/dt = −(v − V_reset) + τ X/Δ, τ = 1 + e^{−w}."""
    if p.decay_input:
        eqs = "dv/dt = (-(v - v_reset) + I(t, i)) / tau : 1"
    else:
        eqs = "dv/dt = -(v - v_reset) / tau + I(t, i) / step : 1"
    taus = tau(p.w)
    if np.ndim(taus):
        eqs += "\ntau : second (constant)"
    else:
        taus = float(taus)
    v_reset = 0.0 if p.v_reset is None else p.v_reset
    return Twin(eqs, "v >= v_th", "v -= v_th" if p.v_reset is None else "v = v_reset",
                {"v_th": p.v_threshold, "v_reset": v_reset}, {"tau": taus}, {"v": v_reset}, "v")


_W = -np.log(np.random.default_rng(1).uniform(1.5, 8.0, 50) - 1.0)  # per-neuron τ of 1.5–8 steps (50 neurons)
CROSSVAL = {
    "plif-layer": (Parameters(v_threshold=1.0, v_reset=0.0, w=np.asarray(-math.log(2.0 - 1.0) + 0.3)),
                   "PLIF (SpikingJelly ParametricLIFNode): one learned w per layer, τ = 1 + e^{−w}, hard reset"),
    "plif-neuron-soft": (Parameters(v_threshold=1.0, v_reset=None, decay_input=False, per_neuron=True, w=_W),
                         "PLIF (DISTA): a learned w per neuron, soft reset, input not decayed"),
}

register(sys.modules[__name__])
