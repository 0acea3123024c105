"""``lif_euler``: NIR's LIF by forward Euler with step dt (Norse's ``LIFBoxCell``).

    τ dv/dt = (v_leak − v) + R I;   k = dt/τ
    H[t] = V[t−1] + k ((R X[t] + v_leak) − V[t−1])   (Norse's order of operations)
    S[t] = [H[t] > V_th]                             (strict, as NIR and Norse)
    V[t] = H (1 − S) + V_reset S   (v_reset: null → V[t] = H − V_th S)
    V[−1] = v_leak (at rest).

Norse exports τ = dt/τ_inv (its own τ times dt) with dt = 10⁻³ s; ``evsim import nir --from
norse`` undoes that, so k = dt · τ_inv as Norse computes it.
"""
from __future__ import annotations

import sys
from typing import NamedTuple

import numpy as np

from . import Twin, check_reset, fire, register, reset

NAME = "lif_euler"
OUTPUT_VALUES = "binary"
PER_NEURON = ("dt_tau", "r", "v_leak", "v_threshold", "v_reset")


class Parameters(NamedTuple):
    dt_tau: float = 0.1          # k = dt/τ, the fraction of the way to rest per step (0 < k ≤ 1)
    r: float = 1.0               # input resistance
    v_leak: float = 0.0
    v_threshold: float = 1.0
    v_reset: float | None = 0.0


class State(NamedTuple):
    v: np.ndarray


def check_rate(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.ndarray)) or np.any(np.asarray(value) <= 0) \
            or np.any(np.asarray(value) > 1):
        raise ValueError(f"'{name}' (dt/τ) must be in (0, 1], got {value!r}: τ shorter than a step is unstable")


def check(p: Parameters):
    check_rate("dt_tau", p.dt_tau)
    check_reset(p)


def initial_state(shape, p: Parameters, dtype) -> State:
    return State(np.broadcast_to(np.asarray(p.v_leak, dtype=dtype), shape).copy())


def step(x, state: State, p: Parameters):
    h = state.v + p.dt_tau * ((p.r * x + p.v_leak) - state.v)
    s = fire(h, p.v_threshold, strict=True)
    return s, State(reset(h, s, p.v_threshold, p.v_reset))


def twin(p: Parameters) -> Twin:
    return Twin("dv/dt = ((v_leak - v) + r * I(t, i)) / tau : 1", "v > v_th",
                "v -= v_th" if p.v_reset is None else "v = v_reset",
                {"v_th": p.v_threshold, "v_reset": 0.0 if p.v_reset is None else p.v_reset, "v_leak": p.v_leak, "r": p.r},
                {"tau": 1.0 / p.dt_tau}, {"v": p.v_leak}, "v")


CROSSVAL = {
    "lif-euler": (Parameters(0.25, 1.0, 0.0, 1.0, 0.0), "NIR LIF / Norse LIFBox, dt/τ = 1/4, reset to 0"),
    "lif-euler-leak": (Parameters(0.125, 2.0, 0.2, 1.0, -0.1), "NIR LIF, dt/τ = 1/8, R = 2, v_leak = 0.2, reset to −0.1"),
    "lif-euler-soft": (Parameters(0.5, 1.0, 0.0, 1.0, None), "NIR LIF, dt/τ = 1/2, reset by subtraction"),
}

register(sys.modules[__name__])
