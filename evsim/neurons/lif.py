"""``lif``: leaky integrate-and-fire, SpikingJelly's discrete form (``MultiStepLIFNode``):
forward Euler with dt = 1 of τ dV/dt = −(V − V_reset) + X.

    charge   H[t] = V[t−1] + (X[t] − (V[t−1] − V_reset)) / τ          (decay_input)
             H[t] = V[t−1] − (V[t−1] − V_reset) / τ + X[t]              (otherwise)
    fire     S[t] = 1 if H[t] ≥ V_th else 0                            (Heaviside(0) = 1)
    reset    V[t] = H[t] (1 − S[t]) + V_reset S[t]                      (hard reset)
             V[t] = H[t] − V_th S[t]                                    (soft reset, v_reset: null;
                                                                         V_reset := 0 in the leak)

τ may be a number, or an array per neuron (PLIF-style learned time constants). V[−1] = V_reset.
"""
from __future__ import annotations

import sys
from typing import NamedTuple

import numpy as np
from numba import njit, prange

from ..stats import remember_events
from . import Twin, check_reset, fire, register, reset

NAME = "lif"
OUTPUT_VALUES = "binary"


class Parameters(NamedTuple):
    tau: float = 2.0           # time constant in steps (≥ 1); an array gives one per neuron
    v_threshold: float = 1.0
    v_reset: float | None = 0.0
    decay_input: bool = True


class State(NamedTuple):
    v: np.ndarray


def check(p: Parameters):
    if not isinstance(p.tau, (int, float, np.ndarray)) or isinstance(p.tau, bool) or np.any(np.asarray(p.tau) < 1):
        raise ValueError(f"'tau' must be a number ≥ 1 (in time steps), got {p.tau!r}")
    check_reset(p)


def initial_state(shape, p: Parameters, dtype) -> State:
    return State(np.full(shape, 0.0 if p.v_reset is None else p.v_reset, dtype=dtype))


def charge(v, x, p: Parameters):
    """H[t] from V[t−1] and X[t] (written as SpikingJelly writes it, so rounding matches)."""
    if p.v_reset is None or p.v_reset == 0.0:
        if p.decay_input:
            return v + (x - v) / p.tau
        return v * (1.0 - 1.0 / p.tau) + x
    if p.decay_input:
        return v + (x - (v - p.v_reset)) / p.tau
    return v - (v - p.v_reset) / p.tau + x


def step(x, state: State, p: Parameters):
    h = charge(state.v, x, p)
    s = fire(h, p.v_threshold)
    return s, State(reset(h, s, p.v_threshold, p.v_reset))


@njit(cache=True, parallel=True)
def _lif_steps(x, v, tau, keep, v_threshold, v_reset, hard, decay_input, out):
    """``step`` over S steps, the same operations in the same order and dtype as the NumPy
    expressions above (constants cast to x's dtype, as NumPy casts a Python float beside an
    array). x, out [S, n]; v [n], updated in place. keep = 1 − 1/τ. One thread per block of
    neurons; inside it, step by step over the block (a vector loop). Returns the spikes of
    each step, counted as they are written."""
    one = x.dtype.type(1)
    zero = x.dtype.type(0)
    n = x.shape[1]
    blocks = (n + 4095) // 4096
    spikes = np.zeros((blocks, x.shape[0]), dtype=np.int64)
    for b in prange(blocks):
        first, last = b * 4096, min(b * 4096 + 4096, n)
        vb = v[first:last]
        for s in range(x.shape[0]):
            xb, ob = x[s, first:last], out[s, first:last]
            fired = 0
            for i in range(last - first):
                vi = vb[i]
                xi = xb[i]
                if hard and v_reset != 0:
                    h = vi + (xi - (vi - v_reset)) / tau if decay_input else vi - (vi - v_reset) / tau + xi
                else:
                    h = vi + (xi - vi) / tau if decay_input else vi * keep + xi
                spike = one if h >= v_threshold else zero
                ob[i] = spike
                vb[i] = h * (one - spike) + v_reset * spike if hard else h - spike * v_threshold
                fired += h >= v_threshold
            spikes[b, s] = fired
    return spikes.sum(axis=0)


def run_steps(x, state: State, p: Parameters):
    """All S steps of ``step`` in one compiled pass (scalar τ only; per-neuron τ: None)."""
    if np.ndim(p.tau) or np.ndim(p.v_threshold) or np.ndim(p.v_reset) or x.dtype.kind != "f":
        return None
    cast = x.dtype.type
    flat = np.ascontiguousarray(x).reshape(x.shape[0], -1)
    v = np.array(state.v, dtype=x.dtype).reshape(-1)
    out = np.empty_like(flat)
    hard = p.v_reset is not None
    spikes = _lif_steps(flat, v, cast(p.tau), cast(1.0 - 1.0 / p.tau), cast(p.v_threshold),
                        cast(p.v_reset if hard else 0.0), hard, bool(p.decay_input), out)
    out = out.reshape(x.shape)
    remember_events(out, spikes)   # counted while written: no pass over the output to count them
    return out, State(v.reshape(x.shape[1:]))


def tie_input(p: Parameters):
    v_rest = 0.0 if p.v_reset is None else p.v_reset
    return np.asarray(p.tau) * (p.v_threshold - v_rest) if p.decay_input else p.v_threshold - v_rest


def twin(p: Parameters) -> Twin:
    """decay_input: τ dv/dt = −(v − V_reset) + X; otherwise τ dv/dt = −(v − V_reset) + τ X/Δ."""
    if p.decay_input:
        eqs = "dv/dt = (-(v - v_reset) + I(t, i)) / tau : 1"
    else:
        eqs = "dv/dt = -(v - v_reset) / tau + I(t, i) / step : 1"
    if not np.isscalar(p.tau):
        eqs += "\ntau : second (constant)"
    v_reset = 0.0 if p.v_reset is None else p.v_reset
    return Twin(eqs, "v >= v_th", "v -= v_th" if p.v_reset is None else "v = v_reset",
                {"v_th": p.v_threshold, "v_reset": v_reset}, {"tau": p.tau}, {"v": v_reset}, "v")


PLIF_TAUS = np.random.default_rng(0).uniform(1.5, 8.0, 50)  # a per-neuron τ for the PLIF case (50 neurons)
CROSSVAL = {
    "lif-hard": (Parameters(2.0, 1.0, 0.0, True), "SpikingJelly LIF, τ = 2, hard reset to 0, decay_input (Spikformer)"),
    "lif-hard-reset-nonzero": (Parameters(3.0, 1.0, -0.25, True), "LIF, τ = 3, hard reset to −0.25, decay_input"),
    "lif-soft": (Parameters(2.0, 1.0, None, True), "LIF, τ = 2, soft reset (subtract threshold), decay_input"),
    "lif-no-decay-input": (Parameters(4.0, 1.0, 0.0, False), "LIF, τ = 4, hard reset, input not decayed"),
    "lif-soft-no-decay-input": (Parameters(2.0, 0.5, None, False), "LIF, τ = 2, V_th = 0.5, soft reset, input not decayed"),
    "plif": (Parameters(PLIF_TAUS, 1.0, 0.0, True), "PLIF (DISTA): LIF with a learned τ per neuron, hard reset"),
}

register(sys.modules[__name__])
