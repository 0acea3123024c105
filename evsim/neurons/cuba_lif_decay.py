"""``cuba_lif_decay``: current-based LIF in decay-factor form — SpikingJelly 2.0's
``CUBALIFNode`` (``functional.cuba_lif_step``), written as SpikingJelly writes it:

    I[t] = I[t−1] · c_decay + X[t]
    H[t] = V[t−1] · v_decay + I[t]
    S[t] = [H[t] ≥ V_th];   V[t] = H[t](1 − S[t]) + V_reset S[t]  (hard), or H[t] − V_th S[t] (soft)
    I[−1] = 0, V[−1] = V_reset (0 for soft reset).

NIR's CubaLIF by forward Euler with step dt, taking v's derivative at the new current, is this
with c_decay = 1 − dt/τ_syn, v_decay = 1 − dt/τ_mem; SpikingJelly exports w_in = τ_syn/dt and
R = τ_mem/dt so that both input gains are 1 (as snnTorch's ``synaptic``, which fires on > and
resets differently).

Twin: dI/dt = (−(1 − c) I + X)/Δ, dV/dt = (−(1 − v) V + c I + X)/Δ (the new current, c I + X,
written out); threshold V ≥ V_th; reset V = V_reset or V −= V_th.
"""
from __future__ import annotations

import sys
from typing import NamedTuple

import numpy as np

from . import Twin, check_reset, fire, register, reset
from .leaky import check_beta

NAME = "cuba_lif_decay"
OUTPUT_VALUES = "binary"


class Parameters(NamedTuple):
    c_decay: float = 0.5         # synaptic current decay per step, 0 ≤ c < 1
    v_decay: float = 0.75        # membrane decay per step, 0 ≤ v < 1
    v_threshold: float = 0.5     # SpikingJelly's CUBALIFNode defaults
    v_reset: float | None = 0.0


class State(NamedTuple):
    current: np.ndarray
    v: np.ndarray


def check(p: Parameters):
    check_beta("c_decay", p.c_decay)
    check_beta("v_decay", p.v_decay)
    check_reset(p)


def initial_state(shape, p: Parameters, dtype) -> State:
    return State(np.zeros(shape, dtype=dtype), np.full(shape, 0.0 if p.v_reset is None else p.v_reset, dtype=dtype))


def step(x, state: State, p: Parameters):
    current = state.current * p.c_decay + x
    h = state.v * p.v_decay + current
    s = fire(h, p.v_threshold)
    return s, State(current, reset(h, s, p.v_threshold, p.v_reset))


def twin(p: Parameters) -> Twin:
    v_reset = 0.0 if p.v_reset is None else p.v_reset
    eqs = """disyn/dt = (-(1 - c_decay) * isyn + I(t, i)) / step : 1
dv/dt = (-(1 - v_decay) * v + c_decay * isyn + I(t, i)) / step : 1"""
    return Twin(eqs, "v >= v_th", "v -= v_th" if p.v_reset is None else "v = v_reset",
                {"v_th": p.v_threshold, "v_reset": v_reset, "c_decay": p.c_decay, "v_decay": p.v_decay}, {},
                {"v": v_reset, "isyn": 0.0}, "v")


CROSSVAL = {
    "cuba-lif-decay": (Parameters(0.5, 0.75, 0.5, 0.0), "SpikingJelly CUBALIFNode, c = 0.5, v = 0.75, hard reset"),
    "cuba-lif-decay-soft": (Parameters(0.75, 0.5, 1.0, None), "SpikingJelly CUBALIFNode, c = 0.75, v = 0.5, soft reset"),
}

register(sys.modules[__name__])
