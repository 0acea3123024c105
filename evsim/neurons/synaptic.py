"""``synaptic``: snnTorch's ``Synaptic`` neuron — a decay-factor current-based LIF (NIR's
CubaLIF as snnTorch exports it), written as snnTorch writes it.

    R[t] = [U[t−1] > V_th]
    I[t] = α I[t−1] + X[t]
    U[t] = β U[t−1] + I[t] − R[t] V_th             (reset: subtract)
    U[t] = (β U[t−1] + I[t]) (1 − R[t])            (reset: zero; I is kept)
    S[t] = [U[t] > V_th];  reset_delay false as ``leaky``.

NIR's CubaLIF by forward Euler with step dt, taking v's derivative at the *new* current:
α = 1 − dt/τ_syn, β = 1 − dt/τ_mem, and snnTorch exports w_in = τ_syn/dt, R = τ_mem/dt so
that both input gains are 1. I[−1] = U[−1] = 0.

Twin (subtract, delayed): dI/dt = (−(1 − α) I + X)/Δ and dU/dt = (−(1 − β) U + α I + X
− V_th P)/Δ (the new current, α I + X, written out), P as in ``leaky``.
"""
from __future__ import annotations

import sys
from typing import NamedTuple

import numpy as np

from . import Twin, fire, register
from .leaky import RESETS, check_beta, late_reset

NAME = "synaptic"
OUTPUT_VALUES = "binary"
PER_NEURON = ("alpha", "beta", "v_threshold")


class Parameters(NamedTuple):
    alpha: float = 0.5           # synaptic current decay per step
    beta: float = 0.5            # membrane decay per step
    v_threshold: float = 1.0
    reset: str = "subtract"
    reset_delay: bool = True


class State(NamedTuple):
    current: np.ndarray
    v: np.ndarray


def check(p: Parameters):
    check_beta("alpha", p.alpha)
    check_beta("beta", p.beta)
    if p.reset not in RESETS:
        raise ValueError(f"'reset' must be one of {', '.join(RESETS)}, got {p.reset!r}")


def initial_state(shape, p: Parameters, dtype) -> State:
    return State(np.zeros(shape, dtype=dtype), np.zeros(shape, dtype=dtype))


def step(x, state: State, p: Parameters):
    current, v = state
    r = fire(v, p.v_threshold, strict=True)
    current = p.alpha * current + x
    h = p.beta * v + current
    if p.reset == "subtract":
        h = h - r * p.v_threshold
    elif p.reset == "zero":
        h = h - h * r
    s = fire(h, p.v_threshold, strict=True)
    return s, State(current, late_reset(h, s, r, p))


def twin(p: Parameters) -> Twin:
    reset = {"subtract": " - v_th * pending", "zero": " - (beta * v + alpha * isyn + I(t, i)) * pending", "none": ""}[p.reset]
    eqs = f"""disyn/dt = (-(1 - alpha) * isyn + I(t, i)) / step : 1
dv/dt = (-(1 - beta) * v + alpha * isyn + I(t, i){reset}) / step : 1
dpending/dt = -pending / step : 1"""
    return Twin(eqs, "v > v_th", "pending = 1", {"v_th": p.v_threshold, "alpha": p.alpha, "beta": p.beta}, {},
                {"v": 0.0, "isyn": 0.0, "pending": 0.0}, "v")


CROSSVAL = {
    "synaptic-subtract": (Parameters(0.5, 0.75, 1.0, "subtract", True), "snnTorch Synaptic, α = 0.5, β = 0.75, subtract"),
    "synaptic-zero": (Parameters(0.75, 0.5, 1.0, "zero", True), "snnTorch Synaptic, α = 0.75, β = 0.5, reset to zero"),
}

register(sys.modules[__name__])
