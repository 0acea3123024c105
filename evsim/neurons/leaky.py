"""``leaky``: snnTorch's ``Leaky`` neuron — a decay-factor LIF, written as snnTorch writes it
(so float64 rounding matches), with its reset applied one step late by default.

    R[t] = [U[t−1] > V_th]                          (the reset signal, from the stored membrane)
    U[t] = β U[t−1] + X[t] − R[t] V_th              (reset: subtract)
    U[t] = β (1 − R[t]) U[t−1] + X[t]               (reset: zero)
    S[t] = [U[t] > V_th]                            (strict, as snnTorch's Heaviside)
    reset_delay false: after firing, U[t] −= (S[t] − R[t]) V_th (subtract) or (S[t] − R[t]) U[t] (zero).

NIR's LIF τ dv/dt = (v_leak − v) + R I discretised by forward Euler with step dt is
U[t] = (1 − dt/τ) U[t−1] + (R dt/τ) X[t]: snnTorch exports β = 1 − dt/τ and R = τ/dt
(dt = 10⁻⁴ s), so the input gain R dt/τ is 1. U[−1] = 0.

Twin (reset subtract, delayed): dU/dt = (−(1 − β) U + X − V_th P)/Δ, dP/dt = −P/Δ, with P
set to 1 by a spike — forward Euler (dt = Δ) empties P in the next step after using it.
"""
from __future__ import annotations

import sys
from typing import NamedTuple

import numpy as np

from . import Twin, fire, register

NAME = "leaky"
OUTPUT_VALUES = "binary"
RESETS = ("subtract", "zero", "none")
PER_NEURON = ("beta", "v_threshold")


class Parameters(NamedTuple):
    beta: float = 0.5            # membrane decay per step, 0 ≤ β ≤ 1
    v_threshold: float = 1.0
    reset: str = "subtract"      # subtract | zero | none
    reset_delay: bool = True     # snnTorch's default: the reset lands in the next step


class State(NamedTuple):
    v: np.ndarray


def check_beta(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.ndarray)) or np.any(np.asarray(value) < 0) \
            or np.any(np.asarray(value) > 1):
        raise ValueError(f"'{name}' must be a decay factor between 0 and 1, got {value!r}")


def check(p: Parameters):
    check_beta("beta", p.beta)
    if p.reset not in RESETS:
        raise ValueError(f"'reset' must be one of {', '.join(RESETS)}, got {p.reset!r}")


def initial_state(shape, p: Parameters, dtype) -> State:
    return State(np.zeros(shape, dtype=dtype))


def late_reset(h, s, r, p) -> np.ndarray:
    """reset_delay false: reset right after the spike, minus what the late reset already did."""
    if p.reset_delay or p.reset == "none":
        return h
    done = s - r
    return h - done * p.v_threshold if p.reset == "subtract" else h - done * h


def step(x, state: State, p: Parameters):
    v = state.v
    r = fire(v, p.v_threshold, strict=True)
    if p.reset == "subtract":
        h = p.beta * v + x - r * p.v_threshold
    elif p.reset == "zero":
        h = p.beta * ((1 - r) * v) + x
    else:
        h = p.beta * v + x
    s = fire(h, p.v_threshold, strict=True)
    return s, State(late_reset(h, s, r, p))


def twin(p: Parameters) -> Twin:
    if p.reset == "zero":
        leak = "-(1 - beta) * v - beta * v * pending"
    else:
        leak = "-(1 - beta) * v" + (" - v_th * pending" if p.reset == "subtract" else "")
    eqs = f"dv/dt = ({leak} + I(t, i)) / step : 1\ndpending/dt = -pending / step : 1"
    if not np.isscalar(p.beta):
        eqs += "\nbeta : 1 (constant)"
    return Twin(eqs, "v > v_th", "pending = 1", {"v_th": p.v_threshold, **({"beta": p.beta} if np.isscalar(p.beta) else {})},
                {}, {"v": 0.0, "pending": 0.0, **({} if np.isscalar(p.beta) else {"beta": p.beta})}, "v")


CROSSVAL = {
    "leaky-subtract": (Parameters(0.75, 1.0, "subtract", True), "snnTorch Leaky, β = 0.75, reset by subtraction one step late"),
    "leaky-zero": (Parameters(0.875, 1.0, "zero", True), "snnTorch Leaky, β = 0.875, reset to zero one step late"),
}

register(sys.modules[__name__])
