"""Brian2 twins of evsim's neuron models, and their comparison with evsim.

A twin states the continuous model in Brian2's equation language and lets Brian2 integrate
it; evsim's discrete step functions (``evsim.neurons``) are the forward-Euler (dt = 1)
updates of those same equations. One evsim time step is one ``defaultclock.dt`` of 1 second
(so that dt/τ = 1/τ is exact in floating point and threshold ties stay ties); the input
X[t] comes from a 2-D ``TimedArray``; the threshold is ``v >= v_th``; the StateMonitor
records at the end of each step, after the reset, as evsim's V[t] is.

    LIF, decay_input:   τ dv/dt = −(v − V_reset) + X          (euler: H = V + (X − (V − V_reset))/τ)
    LIF, otherwise:     τ dv/dt = −(v − V_reset) + τ X/Δ      (H = V − (V − V_reset)/τ + X)
    IF:                   dv/dt = X/Δ                          (H = V + X)
    PLIF:               LIF with a per-neuron τ parameter
    LCA (ViT-LCA):      τ du/dt = b − u − ((ΦᵀΦ − I) a),  a = T_λ(u) = (u > λ)(u − λ),
                        the inhibition a summed variable of all-to-all Synapses.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .. import neurons

STEP_SECONDS = 1.0


def _brian():
    import brian2
    brian2.prefs.codegen.target = "numpy"  # no compiler needed; fast to start, exact enough (float64)
    brian2.prefs.logging.console_log_level = "ERROR"
    return brian2


@dataclass
class NeuronModel:
    """One evsim neuron model to cross-validate: a name, its evsim step and parameters."""
    name: str
    kind: str                 # 'lif' | 'if'
    params: object
    description: str = ""


MODELS = {
    "lif-hard": NeuronModel("lif-hard", "lif", neurons.LIFParameters(2.0, 1.0, 0.0, True),
                            "SpikingJelly LIF, τ = 2, hard reset to 0, decay_input (Spikformer)"),
    "lif-hard-reset-nonzero": NeuronModel("lif-hard-reset-nonzero", "lif", neurons.LIFParameters(3.0, 1.0, -0.25, True),
                                          "LIF, τ = 3, hard reset to −0.25, decay_input"),
    "lif-soft": NeuronModel("lif-soft", "lif", neurons.LIFParameters(2.0, 1.0, None, True),
                            "LIF, τ = 2, soft reset (subtract threshold), decay_input"),
    "lif-no-decay-input": NeuronModel("lif-no-decay-input", "lif", neurons.LIFParameters(4.0, 1.0, 0.0, False),
                                      "LIF, τ = 4, hard reset, input not decayed"),
    "lif-soft-no-decay-input": NeuronModel("lif-soft-no-decay-input", "lif", neurons.LIFParameters(2.0, 0.5, None, False),
                                           "LIF, τ = 2, V_th = 0.5, soft reset, input not decayed"),
    "if-hard": NeuronModel("if-hard", "if", neurons.IFParameters(1.0, 0.0), "IF, hard reset"),
    "if-soft": NeuronModel("if-soft", "if", neurons.IFParameters(1.0, None), "IF, soft reset"),
    "plif": NeuronModel("plif", "lif", None, "PLIF (DISTA): LIF with a learned τ per neuron, hard reset"),
}


@dataclass
class Comparison:
    model: str
    max_abs_dv: float
    same_spikes: bool
    evsim_spikes: int
    brian_spikes: int
    spike_time_differences: list = field(default_factory=list)  # (neuron, evsim steps, brian steps) where they differ
    traces: tuple = ()   # (evsim V [T, N], brian V [T, N])


def neuron_equations(kind, params):
    """(equations, threshold, reset, namespace) of the Brian2 twin."""
    v_reset = 0.0 if params.v_reset is None else params.v_reset
    reset = "v -= v_th" if params.v_reset is None else "v = v_reset"
    if kind == "if":
        eqs = "dv/dt = I(t, i) / step : 1"
    elif params.decay_input:
        eqs = "dv/dt = (-(v - v_reset) + I(t, i)) / tau : 1"
    else:
        eqs = "dv/dt = -(v - v_reset) / tau + I(t, i) / step : 1"
    if kind == "lif" and not np.isscalar(params.tau):
        eqs += "\ntau : second (constant)"
    return eqs, "v >= v_th", reset, {"v_th": params.v_threshold, "v_reset": v_reset}


def run_twin(kind, params, inputs):
    """Simulate the Brian2 twin on inputs [T, N]; returns (V [T, N] after reset, spike (step, neuron) list)."""
    b2 = _brian()
    T, n = inputs.shape
    b2.start_scope()
    b2.defaultclock.dt = STEP_SECONDS * b2.second
    eqs, threshold, reset, namespace = neuron_equations(kind, params)
    namespace.update(I=b2.TimedArray(inputs, dt=STEP_SECONDS * b2.second), step=STEP_SECONDS * b2.second)
    if kind == "lif" and np.isscalar(params.tau):
        namespace["tau"] = params.tau * STEP_SECONDS * b2.second
    group = b2.NeuronGroup(n, eqs, threshold=threshold, reset=reset, method="euler", namespace=namespace)
    if kind == "lif" and not np.isscalar(params.tau):
        group.tau = np.asarray(params.tau) * STEP_SECONDS * b2.second
    group.v = namespace["v_reset"] if params.v_reset is not None else 0.0
    trace = b2.StateMonitor(group, "v", record=True, when="end")
    spikes = b2.SpikeMonitor(group)
    net = b2.Network(group, trace, spikes)
    net.run(T * STEP_SECONDS * b2.second, namespace={})
    steps = np.rint(np.asarray(spikes.t / b2.second) / STEP_SECONDS).astype(int)
    return np.asarray(trace.v).T.copy(), sorted(zip(steps.tolist(), np.asarray(spikes.i).tolist()))


def run_evsim(kind, params, inputs):
    step = neurons.lif_step if kind == "lif" else neurons.if_step
    s, v, _ = neurons.run_neurons(step, inputs, params)
    t_idx, n_idx = np.nonzero(s)
    return v, sorted(zip(t_idx.tolist(), n_idx.tolist()))


def spike_differences(a, b):
    """Per neuron whose spike trains differ: (neuron, evsim steps, brian steps)."""
    out = []
    for n in sorted({i for _, i in a} | {i for _, i in b}):
        ta, tb = [t for t, i in a if i == n], [t for t, i in b if i == n]
        if ta != tb:
            out.append((n, ta, tb))
    return out


def compare(model, inputs) -> Comparison:
    """Run a model (a name from MODELS, or a NeuronModel) in evsim and in its Brian2 twin on
    inputs [T, N]; report max |ΔV| and spike-train agreement."""
    model = MODELS[model] if isinstance(model, str) else model
    inputs = np.asarray(inputs, dtype=np.float64)
    params = resolved_params(model, inputs.shape[1])
    v_e, s_e = run_evsim(model.kind, params, inputs)
    v_b, s_b = run_twin(model.kind, params, inputs)
    return Comparison(model.name, float(np.max(np.abs(v_e - v_b))), s_e == s_b, len(s_e), len(s_b),
                      spike_differences(s_e, s_b), (v_e, v_b))


def tie_input(kind, params):
    """The input that takes a neuron at rest exactly onto its threshold (H = V_th)."""
    v_rest = 0.0 if params.v_reset is None else params.v_reset
    if kind == "lif" and params.decay_input:
        return np.asarray(params.tau) * (params.v_threshold - v_rest)
    return params.v_threshold - v_rest


def drive(model, T=200, n=50, seed=0):
    """Random drive [T, N], with a fifth of the neurons held at rest and kicked every 7th step
    by exactly the input that lands on the threshold, so the ≥ tie is exercised."""
    model = MODELS[model] if isinstance(model, str) else model
    params = resolved_params(model, n)
    rng = np.random.default_rng(seed)
    x = rng.uniform(-0.5, 2.5, (T, n))
    ties = n // 5
    x[:, :ties] = 0.0
    x[::7, :ties] = np.broadcast_to(tie_input(model.kind, params), (n,))[:ties]
    return x


def resolved_params(model, n):
    """The model's parameters; PLIF draws a per-neuron τ in [1.5, 8] (seeded)."""
    if model.params is not None:
        return model.params
    taus = np.random.default_rng(0).uniform(1.5, 8.0, n)
    return neurons.LIFParameters(taus, 1.0, 0.0, True)


@dataclass
class LCAComparison:
    max_abs_du: float
    max_abs_da: float
    same_active_set: bool
    traces: tuple = ()


def lca_evsim(b, gram, params, iterations):
    u = np.zeros_like(b)
    us = []
    for _ in range(iterations):
        u, _ = neurons.lca_step(u, b, gram, params)
        us.append(u)
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


def compare_lca(b, gram, params=neurons.LCAParameters(), iterations=100) -> LCAComparison:
    u_e = lca_evsim(b, gram, params, iterations)
    u_b = lca_brian(b, gram, params, iterations)
    a_e, a_b = neurons.lca_threshold(u_e, params.threshold), neurons.lca_threshold(u_b, params.threshold)
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
