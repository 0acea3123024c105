"""Neuron models as pure step functions: state and input in, state and spikes out.

Every engine and the Brian2 twins share these functions, so "the same neuron" means the
same arithmetic, operation for operation. Parameters are named tuples, as in Norse.

SpikingJelly's discrete LIF (``MultiStepLIFNode``) is forward Euler with dt = 1 of
τ dV/dt = −(V − V_reset) + X:

    charge   H[t] = V[t−1] + (X[t] − (V[t−1] − V_reset)) / τ          (decay_input)
             H[t] = V[t−1] − (V[t−1] − V_reset) / τ + X[t]              (otherwise)
    fire     S[t] = 1 if H[t] ≥ V_th else 0                            (Heaviside(0) = 1)
    reset    V[t] = H[t] (1 − S[t]) + V_reset S[t]                      (hard reset)
             V[t] = H[t] − V_th S[t]                                    (soft reset, V_reset := 0 in the leak)

IF drops the leak: H[t] = V[t−1] + X[t].
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np


class LIFParameters(NamedTuple):
    tau: float | np.ndarray = 2.0      # time constant in steps (scalar, per layer, or per neuron: PLIF)
    v_threshold: float = 1.0
    v_reset: float | None = 0.0        # None: soft reset (subtract the threshold)
    decay_input: bool = True


class IFParameters(NamedTuple):
    v_threshold: float = 1.0
    v_reset: float | None = 0.0


def lif_charge(v, x, p: LIFParameters):
    """H[t] from V[t−1] and X[t] (written as SpikingJelly writes it, so rounding matches)."""
    if p.v_reset is None or p.v_reset == 0.0:
        if p.decay_input:
            return v + (x - v) / p.tau
        return v * (1.0 - 1.0 / p.tau) + x
    if p.decay_input:
        return v + (x - (v - p.v_reset)) / p.tau
    return v - (v - p.v_reset) / p.tau + x


def if_charge(v, x, p: IFParameters):
    return v + x


def fire(h, v_threshold):
    """S = Θ(H − V_th) with Θ(0) = 1, in H's dtype."""
    return (h >= v_threshold).astype(h.dtype)


def reset(h, s, v_threshold, v_reset):
    if v_reset is None:
        return h - s * v_threshold
    return h * (1.0 - s) + v_reset * s


def lif_step(v, x, p: LIFParameters):
    """One step: returns (V[t], S[t], H[t])."""
    h = lif_charge(v, x, p)
    s = fire(h, p.v_threshold)
    return reset(h, s, p.v_threshold, p.v_reset), s, h


def if_step(v, x, p: IFParameters):
    h = if_charge(v, x, p)
    s = fire(h, p.v_threshold)
    return reset(h, s, p.v_threshold, p.v_reset), s, h


def initial_state(shape, p, dtype):
    """V[−1] = V_reset (0 for soft reset), as SpikingJelly initialises."""
    v_reset = 0.0 if p.v_reset is None else p.v_reset
    return np.full(shape, v_reset, dtype=dtype)


def run_neurons(step, x, p):
    """Drive a layer of neurons with X[0..T−1] (leading axis time); returns (S, V, H) as
    [T, ...] arrays (V after reset)."""
    v = initial_state(x.shape[1:], p, x.dtype)
    spikes, voltages, charged = np.empty_like(x), np.empty_like(x), np.empty_like(x)
    for t in range(x.shape[0]):
        v, spikes[t], charged[t] = step(v, x[t], p)
        voltages[t] = v
    return spikes, voltages, charged


class LCAParameters(NamedTuple):
    """Locally competitive algorithm (Rozell 2008) as ViT-LCA runs it."""
    threshold: float = 2.0     # λ
    tau: float = 100.0         # τ in iterations (ViT-LCA: lr 0.01 = 1/τ)


def lca_threshold(u, lam):
    """Rectified soft threshold a = T_λ(u) = u − λ if u > λ else 0."""
    return np.where(u > lam, u - lam, 0.0)


def lca_step(u, b, gram, p: LCAParameters):
    """u += (1/τ)(b − (ΦᵀΦ a − a) − u), a = T_λ(u): forward Euler, dt = 1, of
    τ du/dt + u = b − (ΦᵀΦ − I) a. Returns (u_next, a) with a = T_λ(u) before the update."""
    a = lca_threshold(u, p.threshold)
    return u + (b - (gram @ a - a) - u) / p.tau, a
