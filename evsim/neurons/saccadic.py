"""``saccadic``: the saccadic neuron of SNN-ViT (Wang et al., ICLR 2025): it integrates a salience
input over the time steps of one inference through a learned lower-triangular temporal matrix
M_w ∈ R^{T×T}, in place of leak and reset:

    H[t] = Σ_{i ≤ t} M_w[t, i] · X[i]          (no leak, no reset: M_w weighs the whole history)
    S[t] = [H[t] ≥ V_th]

An LIF without reset is the special case M_w[t, i] = (1 − 1/τ)^{t−i}/τ; a diagonal M_w makes
every step independent. Entries above the diagonal are ignored (the neuron is causal).
``M_w`` is a layer parameter read from the weights file (``<layer>.m_w``, [T_max, T_max]);
``time_steps`` (T_max) bounds the steps a run may take. The state remembers the salience
history (``history``, [T_max, ...]) and the step reached; H is summed in the order i = 0…t.

Brian2 twin: one accumulator a_j per future step j, each integrating its weighted input,
da_j/dt = M_w[j, t] X(t)/Δ (Euler, dt = Δ = one step), and H(t) = a_t(t): the same sums,
formed by scattering each input forward instead of gathering the history back.
"""
from __future__ import annotations

import sys
from typing import NamedTuple

import numpy as np

from . import Twin, fire, register

NAME = "saccadic"
OUTPUT_VALUES = "binary"
LEARNED = ("m_w",)


class Parameters(NamedTuple):
    time_steps: int = 4          # T_max: the size of M_w
    v_threshold: float = 1.0
    m_w: object = None           # learned [T_max, T_max], lower triangular


class State(NamedTuple):
    h: np.ndarray                # H at the last step
    history: np.ndarray          # X[0..T_max−1] (rows not yet reached are 0)
    step: np.ndarray             # steps taken (0-d int)


def check(p: Parameters):
    if isinstance(p.time_steps, bool) or not isinstance(p.time_steps, int) or p.time_steps < 1:
        raise ValueError(f"'time_steps' must be a positive int (the size of M_w), got {p.time_steps!r}")
    if p.m_w is not None:
        m = np.asarray(p.m_w)
        if m.shape != (p.time_steps, p.time_steps):
            raise ValueError(f"M_w must be {p.time_steps}×{p.time_steps}, got {list(m.shape)}")


def max_steps(p: Parameters) -> int:
    return p.time_steps


def learned_shapes(p: Parameters, shape) -> dict:
    return {"m_w": (p.time_steps, p.time_steps)}


def initial_learned(p: Parameters, shapes, rng) -> dict:
    """A leaky-integrator start: M_w[t, i] = 2^{−(t−i)} for i ≤ t."""
    t = np.arange(p.time_steps)
    return {"m_w": np.tril(0.5 ** (t[:, None] - t[None, :]).clip(min=0))}


def initial_state(shape, p: Parameters, dtype) -> State:
    return State(np.zeros(shape, dtype=dtype), np.zeros((p.time_steps, *shape), dtype=dtype), np.zeros((), np.int64))


def potential(m_w, history, t):
    """H[t] = Σ_{i ≤ t} M_w[t, i] X[i], summed in the order i = 0…t."""
    h = np.zeros_like(history[0])
    for i in range(t + 1):
        h = h + m_w[t, i] * history[i]
    return h


def step(x, state: State, p: Parameters):
    t = int(state.step)
    if t >= p.time_steps:
        from ..errors import EvsimError
        raise EvsimError(f"the saccadic neuron's M_w covers {p.time_steps} steps; step {t + 1} asked for more",
                         fix="set time_steps (and the weights' M_w) to the run's T")
    history = state.history.copy()
    history[t] = x
    h = potential(np.asarray(p.m_w, dtype=history.dtype), history, t)
    return fire(h, p.v_threshold), State(h, history, np.asarray(t + 1))


def twin(p: Parameters) -> Twin:
    T = p.time_steps
    m = np.tril(np.asarray(p.m_w, dtype=np.float64))
    eqs = [f"da{j}/dt = w{j}(t) * I(t, i) / step : 1" for j in range(T)]
    eqs.append("h = " + " + ".join(f"a{j} * e{j}(t)" for j in range(T)) + " : 1")
    series = {f"w{j}": m[j] for j in range(T)}                    # w_j(t) = M_w[j, t] (0 once t > j)
    series.update({f"e{j}": np.eye(T)[j] for j in range(T)})     # e_j(t) = [t = j]: H(t) = a_t
    return Twin("\n".join(eqs), "h >= v_th", "", {"v_th": p.v_threshold}, {}, {f"a{j}": 0.0 for j in range(T)},
                "h", time_series=series)


def _crossval_matrix(T=32, seed=0):
    """Leaky diagonal band plus random lower-triangular weights, some negative."""
    rng = np.random.default_rng(seed)
    t = np.arange(T)
    lag = (t[:, None] - t[None, :]).clip(min=0)
    return np.tril(0.7 ** lag * rng.uniform(0.2, 1.0, (T, T)) + rng.normal(0, 0.05, (T, T)))


CROSSVAL = {
    "saccadic": (Parameters(32, 2.0, _crossval_matrix()), "SNN-ViT saccadic neuron: learned lower-triangular M_w "
                 "(32 steps) integrates the salience history, no leak, no reset"),
}

register(sys.modules[__name__])
