"""``exp_lif``: sinabs' ``LIF`` (and ``IAF``, τ = ∞) — a LIF with the exact exponential decay
α = e^{−1/τ} per step (τ in steps), one spike per step (sinabs' ``SingleSpike``) and reset by
subtraction (``MembraneSubtract``), written as sinabs writes it (so float64 rounding matches):

    α     = exp(−1/τ)                                       (1 for τ = ∞: sinabs' IAF)
    V'[t] = α V[t−1] + (1 − α) X[t]                          (norm_input, sinabs' LIF default)
    V'[t] = α V[t−1] + X[t]                                  (otherwise)
    S[t]  = [V'[t] ≥ V_th];   V[t] = V'[t] − V_th S[t]
    V[t]  = max(V[t], V_min)                                 (min_v_mem, if given)
    V[−1] = 0.

sinabs exports LIF as NIR's LIF with τ in steps and R = 1; it does not record norm_input, the
spike function or min_v_mem (see ``evsim import nir --from sinabs``). sinabs' default spike
function, MultiSpike, emits ⌊V'/V_th⌋ spikes a step; this model is its SingleSpike.

Twin: dv/dt = (−(1 − α) v + g X)/Δ with g = 1 − α or 1 (forward Euler at dt = Δ is the step,
rounded differently); threshold v ≥ V_th, reset v −= V_th (no V_min: CROSSVAL cases have none).
"""
from __future__ import annotations

import math
import sys
from typing import NamedTuple

import numpy as np

from . import Twin, fire, register

NAME = "exp_lif"
OUTPUT_VALUES = "binary"
PER_NEURON = ("tau_mem", "v_threshold")


class Parameters(NamedTuple):
    tau_mem: float = 10.0        # membrane time constant in steps (> 0); .inf: no leak (sinabs' IAF)
    v_threshold: float = 1.0
    norm_input: bool = True      # scale the input by 1 − α (sinabs' LIF default)
    min_v_mem: float | None = None


class State(NamedTuple):
    v: np.ndarray


def check(p: Parameters):
    tau = p.tau_mem
    if isinstance(tau, bool) or not isinstance(tau, (int, float, np.ndarray)) or np.any(np.asarray(tau) <= 0):
        raise ValueError(f"'tau_mem' must be a number > 0 (in time steps; .inf for no leak), got {tau!r}")
    if p.min_v_mem is not None and (isinstance(p.min_v_mem, bool) or not isinstance(p.min_v_mem, (int, float))):
        raise ValueError(f"'min_v_mem' must be a number or null, got {p.min_v_mem!r}")


def initial_state(shape, p: Parameters, dtype) -> State:
    return State(np.zeros(shape, dtype=dtype))


def alpha(p: Parameters):
    """e^{−1/τ} (exp(−0) = 1 for τ = ∞), as sinabs computes ``torch.exp(-1.0 / tau_mem)``."""
    return np.exp(-1.0 / np.asarray(p.tau_mem, dtype=np.float64))


def charge(v, x, p: Parameters):
    a = alpha(p).astype(x.dtype)
    return a * v + ((1 - a) * x if p.norm_input else x)


def step(x, state: State, p: Parameters):
    v = charge(state.v, x, p)
    s = fire(v, p.v_threshold)
    v = v - s * p.v_threshold
    if p.min_v_mem is not None:
        v = np.maximum(v - p.min_v_mem, 0) + p.min_v_mem   # sinabs: relu(v − V_min) + V_min
    return s, State(v)


def tie_input(p: Parameters):
    a = alpha(p)
    return p.v_threshold / (1 - a) if p.norm_input and np.all(a < 1) else p.v_threshold


def twin(p: Parameters) -> Twin:
    a = float(alpha(p)) if np.isscalar(p.tau_mem) else None
    if a is None:
        raise ValueError("the Brian2 twin of exp_lif takes one τ per layer")
    gain = 1 - a if p.norm_input else 1.0
    return Twin("dv/dt = (-leak * v + gain * I(t, i)) / step : 1", "v >= v_th", "v -= v_th",
                {"v_th": p.v_threshold, "leak": 1 - a, "gain": gain}, {}, {"v": 0.0}, "v")


CROSSVAL = {
    "exp-lif": (Parameters(4.0, 1.0, True), "sinabs LIF, τ = 4 steps, α = e^{−1/4}, input × (1 − α), subtract reset"),
    "exp-lif-no-norm": (Parameters(8.0, 0.5, False), "sinabs LIF, τ = 8 steps, V_th = 0.5, input not normalised"),
    "exp-lif-iaf": (Parameters(math.inf, 1.0, False), "sinabs IAF (τ = ∞, α = 1), subtract reset"),
}

register(sys.modules[__name__])
