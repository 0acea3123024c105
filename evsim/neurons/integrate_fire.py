"""``if``: integrate-and-fire, no leak.

    H[t] = V[t−1] + R X[t];  S[t] = [H[t] ≥ V_th] (strict: H > V_th, as NIR and Norse);
    hard reset V = H(1 − S) + V_reset·S, or soft (v_reset: null) V = H − V_th·S.
    Twin: dv/dt = R X/Δ. NIR's IF (dv/dt = R I) by forward Euler has R dt in place of R.
"""
from __future__ import annotations

import sys
from typing import NamedTuple

import numpy as np

from . import Twin, check_reset, fire, register, reset

NAME = "if"
OUTPUT_VALUES = "binary"


class Parameters(NamedTuple):
    v_threshold: float = 1.0
    v_reset: float | None = 0.0
    r: float = 1.0
    strict: bool = False


PER_NEURON = ("v_threshold", "v_reset", "r")


class State(NamedTuple):
    v: np.ndarray


def check(p: Parameters):
    check_reset(p)


def initial_state(shape, p: Parameters, dtype) -> State:
    return State(np.full(shape, 0.0 if p.v_reset is None else p.v_reset, dtype=dtype))


def charge(v, x, p: Parameters):
    """H[t] = V[t−1] + R·X[t] (R = 1: SpikingJelly's IF exactly, since 1·X = X)."""
    return v + p.r * x


def step(x, state: State, p: Parameters):
    h = charge(state.v, x, p)
    s = fire(h, p.v_threshold, p.strict)
    return s, State(reset(h, s, p.v_threshold, p.v_reset))


def tie_input(p: Parameters):
    return p.v_threshold - (0.0 if p.v_reset is None else p.v_reset)


def twin(p: Parameters) -> Twin:
    v_reset = 0.0 if p.v_reset is None else p.v_reset
    return Twin("dv/dt = r * I(t, i) / step : 1", "v > v_th" if p.strict else "v >= v_th",
                "v -= v_th" if p.v_reset is None else "v = v_reset", {"v_th": p.v_threshold, "v_reset": v_reset, "r": p.r}, {}, {"v": v_reset}, "v")


CROSSVAL = {
    "if-hard": (Parameters(1.0, 0.0), "IF, hard reset"),
    "if-soft": (Parameters(1.0, None), "IF, soft reset"),
}

register(sys.modules[__name__])
