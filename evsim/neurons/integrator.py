"""``integrator``: NIR's integrator (no leak, no spikes; its output is the state), by forward
Euler with step dt.

    dv/dt = R I;   V[t] = V[t−1] + g X[t] with g = R dt;   output V[t];   V[−1] = 0.
"""
from __future__ import annotations

import sys
from typing import NamedTuple

import numpy as np

from . import Twin, register

NAME = "integrator"
OUTPUT_VALUES = "analog"
PER_NEURON = ("gain",)


class Parameters(NamedTuple):
    gain: float = 1.0            # g = R dt


class State(NamedTuple):
    v: np.ndarray


def check(p: Parameters):
    if isinstance(p.gain, bool) or not isinstance(p.gain, (int, float, np.ndarray)):
        raise ValueError(f"'gain' must be a number, got {p.gain!r}")


def initial_state(shape, p: Parameters, dtype) -> State:
    return State(np.zeros(shape, dtype=dtype))


def step(x, state: State, p: Parameters):
    v = state.v + p.gain * x
    return v, State(v)


def twin(p: Parameters) -> Twin:
    return Twin("dv/dt = gain * I(t, i) / step : 1", None, None, {"gain": p.gain}, {}, {"v": 0.0}, "v", output="v")


CROSSVAL = {"integrator": (Parameters(0.5), "NIR integrator, R dt = 0.5")}

register(sys.modules[__name__])
