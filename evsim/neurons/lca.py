"""``lca``-neuron: the neuron of the locally competitive algorithm (Rozell 2008) as
ViT-LCA runs it — a leaky integrator whose output is a rectified soft threshold.

    τ du/dt = X − u,  a = T_λ(u) = u − λ if u > λ else 0

forward Euler with dt = 1: u[k] = u[k−1] + (X[k] − u[k−1]) / τ, a[k] = T_λ(u[k]); u[−1] = 0.
In an LCA layer X = b − (ΦᵀΦ − I) a[k−1] (the lateral inhibition is the layer's job), which
gives ViT-LCA's update u += (1/τ)(b − (ΦᵀΦ a − a) − u) operation for operation.
"""
from __future__ import annotations

import sys
from typing import NamedTuple

import numpy as np

from . import Twin, register

NAME = "lca_neuron"
OUTPUT_VALUES = "analog"


class Parameters(NamedTuple):
    threshold: float = 2.0     # λ
    tau: float = 100.0         # τ in iterations (ViT-LCA: lr 0.01 = 1/τ)


class State(NamedTuple):
    u: np.ndarray


def check(p: Parameters):
    if isinstance(p.tau, bool) or not isinstance(p.tau, (int, float)) or p.tau < 1:
        raise ValueError(f"'tau' must be a number ≥ 1 (in iterations), got {p.tau!r}")


def initial_state(shape, p: Parameters, dtype) -> State:
    return State(np.zeros(shape, dtype=dtype))


def soft_threshold(u, lam):
    """a = T_λ(u) = u − λ where u > λ (strictly), else 0."""
    return np.where(u > lam, u - lam, 0.0).astype(u.dtype, copy=False)


def step(x, state: State, p: Parameters):
    u = state.u + (x - state.u) / p.tau
    return soft_threshold(u, p.threshold), State(u)


def twin(p: Parameters) -> Twin:
    eqs = """du/dt = (I(t, i) - u) / tau : 1
a = int(u > lam) * (u - lam) : 1"""
    return Twin(eqs, None, None, {"lam": p.threshold}, {"tau": p.tau}, {"u": 0.0}, "u", output="a")


CROSSVAL = {"lca-neuron": (Parameters(1.0, 10.0), "LCA neuron (ViT-LCA), λ = 1, τ = 10 iterations")}

register(sys.modules[__name__])
