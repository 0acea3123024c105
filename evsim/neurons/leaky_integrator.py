"""``leaky_integrator``: NIR's leaky integrator (no spikes; its output is the membrane), by forward Euler
with step dt (Norse's ``LIBoxCell``).

    τ dv/dt = (v_leak − v) + R I;   k = dt/τ
    V[t] = V[t−1] + k ((v_leak − V[t−1]) + R X[t]);   output V[t];   V[−1] = v_leak.
"""
from __future__ import annotations

import sys
from typing import NamedTuple

import numpy as np

from . import Twin, register
from .lif_euler import check_rate

NAME = "leaky_integrator"
OUTPUT_VALUES = "analog"
PER_NEURON = ("dt_tau", "r", "v_leak")


class Parameters(NamedTuple):
    dt_tau: float = 0.1          # k = dt/τ
    r: float = 1.0
    v_leak: float = 0.0


class State(NamedTuple):
    v: np.ndarray


def check(p: Parameters):
    check_rate("dt_tau", p.dt_tau)


def initial_state(shape, p: Parameters, dtype) -> State:
    return State(np.broadcast_to(np.asarray(p.v_leak, dtype=dtype), shape).copy())


def step(x, state: State, p: Parameters):
    v = state.v + p.dt_tau * ((p.v_leak - state.v) + p.r * x)
    return v, State(v)


def twin(p: Parameters) -> Twin:
    return Twin("dv/dt = ((v_leak - v) + r * I(t, i)) / tau : 1", None, None, {"v_leak": p.v_leak, "r": p.r},
                {"tau": 1.0 / p.dt_tau}, {"v": p.v_leak}, "v", output="v")


CROSSVAL = {"leaky-integrator": (Parameters(0.25, 1.5, 0.1), "NIR LI / Norse LIBox, dt/τ = 1/4, R = 1.5, v_leak = 0.1")}

register(sys.modules[__name__])
