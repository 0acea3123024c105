"""Brian2 twins of evsim's neuron models, and their comparison with evsim.

Each neuron model (``evsim.neurons``) states its continuous equations as a
:class:`~evsim.neurons.Twin`; Brian2 integrates them here, and evsim's discrete ``step`` is
the forward-Euler (dt = 1) update of those same equations. One evsim time step is one
``defaultclock.dt`` of 1 second (so that dt/τ = 1/τ is exact in floating point and
threshold ties stay ties); the input X[t] comes from a 2-D ``TimedArray``; the
StateMonitor records at the end of each step, after the reset, as evsim's state is.
Every registered model is covered through its ``CROSSVAL`` cases — no list to update.

The LCA network check: τ du/dt = b − u − ((ΦᵀΦ − I) a), a = T_λ(u), the inhibition a
summed variable of all-to-all Synapses.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .. import neurons
from ..errors import EvsimError

STEP_SECONDS = 1.0


def _brian():
    import brian2
    brian2.prefs.codegen.target = "numpy"  # no compiler needed; fast to start, exact enough (float64)
    brian2.prefs.logging.console_log_level = "ERROR"
    return brian2


def cases() -> dict:
    """{case name: (neuron model, parameters, description)} over every registered model."""
    return {case: (model, params, text) for model in neurons.NEURON_MODELS.values()
            for case, (params, text) in model.CROSSVAL.items()}


def case(name):
    known = cases()
    if name not in known:
        raise EvsimError(f"unknown crossval case '{name}'", fix=f"choose one of {', '.join(known)}")
    return known[name]


@dataclass
class Comparison:
    model: str
    max_abs_dv: float          # max |Δ| of the monitored state variable
    same_spikes: bool          # identical output events (spikes, or nonzero outputs)
    evsim_spikes: int
    brian_spikes: int
    spike_time_differences: list = field(default_factory=list)  # (neuron, evsim steps, brian steps) where they differ
    traces: tuple = ()         # (evsim [T, N], brian [T, N]) of the monitored variable


def run_twin(model, params, inputs):
    """Simulate the Brian2 twin on inputs [T, N]; returns (monitored variable [T, N], output
    events as a sorted (step, neuron) list)."""
    b2 = _brian()
    T, n = inputs.shape
    b2.start_scope()
    b2.defaultclock.dt = STEP_SECONDS * b2.second
    twin = model.twin(params)
    namespace = dict(twin.constants, I=b2.TimedArray(inputs, dt=STEP_SECONDS * b2.second),
                     step=STEP_SECONDS * b2.second)
    for name, values in (twin.time_series or {}).items():
        namespace[name] = b2.TimedArray(np.asarray(values, dtype=np.float64), dt=STEP_SECONDS * b2.second)
    per_neuron = {}
    for name, value in twin.time_constants.items():
        if np.isscalar(value):
            namespace[name] = value * STEP_SECONDS * b2.second
        else:
            per_neuron[name] = np.asarray(value) * STEP_SECONDS * b2.second
    group = b2.NeuronGroup(n, twin.equations, threshold=twin.threshold, reset=twin.reset, method="euler",
                           namespace=namespace)
    for name, value in {**per_neuron, **twin.initial}.items():
        setattr(group, name, value)
    recorded = list(dict.fromkeys([twin.monitor] + ([twin.output] if twin.output else [])))
    trace = b2.StateMonitor(group, recorded, record=True, when="end")
    objects = [group, trace]
    if twin.threshold:
        spikes = b2.SpikeMonitor(group)
        objects.append(spikes)
    b2.Network(*objects).run(T * STEP_SECONDS * b2.second, namespace={})
    if twin.threshold:
        steps = np.rint(np.asarray(spikes.t / b2.second) / STEP_SECONDS).astype(int)
        events = sorted(zip(steps.tolist(), np.asarray(spikes.i).tolist()))
    else:
        t_idx, n_idx = np.nonzero(np.asarray(getattr(trace, twin.output)).T)
        events = sorted(zip(t_idx.tolist(), n_idx.tolist()))
    return np.asarray(getattr(trace, twin.monitor)).T.copy(), events


def run_evsim(model, params, inputs):
    outputs, trace = neurons.run(model, inputs, params)
    t_idx, n_idx = np.nonzero(outputs)
    return getattr(trace, model.twin(params).monitor), sorted(zip(t_idx.tolist(), n_idx.tolist()))


def spike_differences(a, b):
    """Per neuron whose spike trains differ: (neuron, evsim steps, brian steps)."""
    out = []
    for n in sorted({i for _, i in a} | {i for _, i in b}):
        ta, tb = [t for t, i in a if i == n], [t for t, i in b if i == n]
        if ta != tb:
            out.append((n, ta, tb))
    return out


def compare(name, inputs) -> Comparison:
    """Run a crossval case in evsim and in its Brian2 twin on inputs [T, N]; report the
    largest difference of the monitored variable and whether the output events agree."""
    model, params, _ = case(name)
    inputs = np.asarray(inputs, dtype=np.float64)
    v_e, s_e = run_evsim(model, params, inputs)
    v_b, s_b = run_twin(model, params, inputs)
    return Comparison(name, float(np.max(np.abs(v_e - v_b))), s_e == s_b, len(s_e), len(s_b),
                      spike_differences(s_e, s_b), (v_e, v_b))


def drive(name, T=200, n=50, seed=0):
    """Random drive [T, N]. Where the model says which input lands a neuron at rest exactly on
    its threshold, a fifth of the neurons are held at rest and kicked every 7th step by that
    input, so the ≥ tie is exercised."""
    model, params, _ = case(name)
    if hasattr(model, "max_steps"):  # a model with a history of fixed length runs at most that many steps
        T = min(T, model.max_steps(params))
    rng = np.random.default_rng(seed)
    x = rng.uniform(-0.5, 2.5, (T, n))
    if hasattr(model, "tie_input"):
        ties = n // 5
        x[:, :ties] = 0.0
        x[::7, :ties] = np.broadcast_to(model.tie_input(params), (n,))[:ties]
    return x


@dataclass
class LCAComparison:
    max_abs_du: float
    max_abs_da: float
    same_active_set: bool
    traces: tuple = ()


def lca_evsim(b, gram, params, iterations):
    """LCA iterations with evsim's LCA neuron: X = b − (ΦᵀΦ a − a), a from the previous step."""
    state = neurons.lca.initial_state(b.shape, params, b.dtype)
    a = np.zeros_like(b)
    us = []
    for _ in range(iterations):
        a, state = neurons.lca.step(b - (gram @ a - a), state, params)
        us.append(state.u)
    return np.array(us)


def lca_brian(b, gram, params, iterations):
    """NeuronGroup of M LCA neurons; the lateral inhibition (ΦᵀΦ − I) a is a summed variable."""
    b2 = _brian()
    b2.start_scope()
    b2.defaultclock.dt = STEP_SECONDS * b2.second
    m = b.shape[0]
    eqs = """
    du/dt = (b - u - inhibition) / tau : 1
    a = int(u > lam) * (u - lam) : 1
    b : 1 (constant)
    inhibition : 1
    """
    group = b2.NeuronGroup(m, eqs, method="euler",
                           namespace={"tau": params.tau * STEP_SECONDS * b2.second, "lam": params.threshold})
    group.b = b
    synapses = b2.Synapses(group, group, "w : 1 (constant)\ninhibition_post = w * a_pre : 1 (summed)",
                           namespace={"lam": params.threshold})
    synapses.connect()
    lateral = gram - np.eye(m)
    synapses.w = lateral[np.asarray(synapses.j), np.asarray(synapses.i)]
    trace = b2.StateMonitor(group, "u", record=True, when="end")
    b2.Network(group, synapses, trace).run(iterations * STEP_SECONDS * b2.second, namespace={})
    return np.asarray(trace.u).T.copy()


def compare_lca(b, gram, params=None, iterations=100) -> LCAComparison:
    params = params or neurons.lca.Parameters()
    u_e = lca_evsim(b, gram, params, iterations)
    u_b = lca_brian(b, gram, params, iterations)
    a_e, a_b = (neurons.lca.soft_threshold(u, params.threshold) for u in (u_e, u_b))
    return LCAComparison(float(np.max(np.abs(u_e - u_b))), float(np.max(np.abs(a_e - a_b))),
                         bool(np.array_equal(a_e > 0, a_b > 0)), (u_e, u_b))


def lca_problem(atoms=40, features=16, seed=0):
    """A small dictionary of unit-norm atoms and an input that is a sparse mix of three of
    them: b = Φᵀ s, gram = ΦᵀΦ."""
    rng = np.random.default_rng(seed)
    phi = rng.standard_normal((features, atoms))
    phi /= np.linalg.norm(phi, axis=0)
    s = phi[:, [1, 7, 20]] @ np.array([3.0, 2.5, 4.0])
    return phi.T @ s, phi.T @ phi
