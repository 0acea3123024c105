"""``cuba_lif``: current-based LIF — a synaptic current and a membrane, both leaky (the
neuron of NIR's CubaLIF). Forward Euler with dt = 1 of

    τ_syn dI/dt = −I + w_in X
    τ_mem dV/dt = (V_leak − V) + R·I

both derivatives taken at the old state (as Brian2's and Norse's Euler steps take them):

    H[t]  = V[t−1] + (V_leak − V[t−1] + R·I[t−1]) / τ_mem
    I[t]  = I[t−1] + (w_in X[t] − I[t−1]) / τ_syn
    S[t]  = [H[t] ≥ V_th] (strict: [H[t] > V_th], NIR's);  V[t] = hard or soft reset of H[t], as LIF.
    I[−1] = 0, V[−1] = V_reset (0 for soft reset).
"""
from __future__ import annotations

import sys
from typing import NamedTuple

import numpy as np

from . import Twin, check_reset, fire, register, reset

NAME = "cuba_lif"
OUTPUT_VALUES = "binary"


class Parameters(NamedTuple):
    tau_syn: float = 2.0       # synaptic time constant in steps (≥ 1)
    tau_mem: float = 2.0       # membrane time constant in steps (≥ 1)
    r: float = 1.0             # input resistance
    v_leak: float = 0.0
    v_threshold: float = 1.0
    v_reset: float | None = 0.0
    w_in: float = 1.0          # input weight (NIR's w_in)
    strict: bool = False       # fire on H > V_th (NIR) instead of H ≥ V_th


PER_NEURON = ("tau_syn", "tau_mem", "r", "v_leak", "v_threshold", "v_reset", "w_in")


class State(NamedTuple):
    current: np.ndarray
    v: np.ndarray


def check(p: Parameters):
    for name in ("tau_syn", "tau_mem"):
        value = getattr(p, name)
        if isinstance(value, bool) or not isinstance(value, (int, float, np.ndarray)) or np.any(np.asarray(value) < 1):
            raise ValueError(f"'{name}' must be a number ≥ 1 (in time steps), got {value!r}")
    check_reset(p)


def initial_state(shape, p: Parameters, dtype) -> State:
    return State(np.zeros(shape, dtype=dtype), np.full(shape, 0.0 if p.v_reset is None else p.v_reset, dtype=dtype))


def step(x, state: State, p: Parameters):
    current, v = state
    h = v + (p.v_leak - v + p.r * current) / p.tau_mem
    current = current + (p.w_in * x - current) / p.tau_syn
    s = fire(h, p.v_threshold, p.strict)
    return s, State(current, reset(h, s, p.v_threshold, p.v_reset))


def twin(p: Parameters) -> Twin:
    v_reset = 0.0 if p.v_reset is None else p.v_reset
    eqs = """dv/dt = (v_leak - v + r * isyn) / tau_mem : 1
disyn/dt = (-isyn + w_in * I(t, i)) / tau_syn : 1"""
    return Twin(eqs, "v > v_th" if p.strict else "v >= v_th", "v -= v_th" if p.v_reset is None else "v = v_reset",
                {"v_th": p.v_threshold, "v_reset": v_reset, "v_leak": p.v_leak, "r": p.r, "w_in": p.w_in},
                {"tau_syn": p.tau_syn, "tau_mem": p.tau_mem}, {"v": v_reset, "isyn": 0.0}, "v")


CROSSVAL = {
    "cuba-lif": (Parameters(4.0, 2.0, 1.0, 0.0, 1.0, 0.0), "current-based LIF, τ_syn = 4, τ_mem = 2, hard reset"),
    "cuba-lif-soft": (Parameters(2.0, 8.0, 2.0, 0.1, 1.0, None), "current-based LIF, τ_syn = 2, τ_mem = 8, R = 2, "
                      "V_leak = 0.1, soft reset"),
    "cuba-lif-nir": (Parameters(4.0, 8.0, 2.0, 0.0, 1.0, 0.0, 1.5, True), "NIR CubaLIF, τ_syn = 4, τ_mem = 8, R = 2, "
                     "w_in = 1.5, fires on V > V_th"),
}

register(sys.modules[__name__])
