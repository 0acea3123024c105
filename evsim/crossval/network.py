"""The small-network check: spike train → linear layer → LIF, in evsim's event engine and
in Brian2 (SpikeGeneratorGroup → Synapses with on_pre ``x_post += w`` → NeuronGroup).

Brian2's schedule within a step is state update, threshold, synapses, reset: an input
spike emitted at step t is added to ``x`` in the synapses slot and integrated by the state
update of step t + 1 (``x`` is cleared right after each state update). So every Brian2
output spike comes exactly one step after evsim's, which integrates the input of step t at
step t — the comparison shifts Brian2's spike steps back by one.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import neurons
from .. import weights as weights_io
from ..engines import get_engine, make_plan
from .twins import STEP_SECONDS, _brian

SPEC_PATH = Path(__file__).with_name("linear_lif.yaml")


@dataclass
class NetworkComparison:
    same_spikes: bool
    evsim_spikes: int
    brian_spikes: int
    max_abs_dv: float
    mismatched: list


def network_problem(seed=0, rate=0.1):
    from ..spec import load_spec
    spec = load_spec(SPEC_PATH)
    rng = np.random.default_rng(seed)
    n_in, n_out = spec.input.shape[0], spec.shapes["fc"][0]
    weights = rng.normal(0.25, 0.5, (n_out, n_in))
    frames = (rng.random((spec.input.T, n_in)) < rate).astype(np.float64)
    return spec, weights, frames


def brian_network(weights, frames, layer):
    b2 = _brian()
    b2.start_scope()
    b2.defaultclock.dt = STEP_SECONDS * b2.second
    T, n_in = frames.shape
    n_out = weights.shape[0]
    steps, indices = np.nonzero(frames)
    source = b2.SpikeGeneratorGroup(n_in, indices, steps * STEP_SECONDS * b2.second)
    v_reset = 0.0 if layer.v_reset is None else layer.v_reset
    group = b2.NeuronGroup(n_out, "dv/dt = (-(v - v_reset) + x) / tau : 1\nx : 1", threshold="v >= v_th",
                           reset="v = v_reset", method="euler",
                           namespace={"tau": layer.tau * STEP_SECONDS * b2.second, "v_th": layer.v_threshold,
                                      "v_reset": v_reset})
    group.v = v_reset
    clear = group.run_regularly("x = 0", when="after_groups")
    synapses = b2.Synapses(source, group, "w : 1 (constant)", on_pre="x_post += w")
    synapses.connect()
    synapses.w = weights[np.asarray(synapses.j), np.asarray(synapses.i)]
    spikes = b2.SpikeMonitor(group)
    trace = b2.StateMonitor(group, "v", record=True, when="end")
    b2.Network(source, group, clear, synapses, spikes, trace).run((T + 1) * STEP_SECONDS * b2.second, namespace={})
    steps_out = np.rint(np.asarray(spikes.t / b2.second) / STEP_SECONDS).astype(int)
    return sorted(zip(steps_out.tolist(), np.asarray(spikes.i).tolist())), np.asarray(trace.v).T


def compare_network(seed=0, rate=0.1) -> NetworkComparison:
    spec, weights, frames = network_problem(seed, rate)
    params = weights_io.fold(spec, weights_io.bind(spec, {"fc.weight": weights}))
    run = get_engine("event")(make_plan(spec, params, "event", np.float64), frames)
    t_idx, n_idx = np.nonzero(run.spikes["lif"])
    evsim_spikes = sorted(zip(t_idx.tolist(), n_idx.tolist()))
    brian_spikes, brian_v = brian_network(weights, frames, spec.layers["lif"])
    shifted = sorted((t - 1, i) for t, i in brian_spikes)   # Brian2 integrates input one step later
    # membrane: Brian2's V at step t + 1 is evsim's V at step t
    _, trace = neurons.run(neurons.lif, frames @ weights.T, spec.layers["lif"].parameters())
    max_dv = float(np.max(np.abs(trace.v - brian_v[1:])))
    mismatched = sorted(set(evsim_spikes) ^ set(shifted))
    return NetworkComparison(evsim_spikes == shifted, len(evsim_spikes), len(brian_spikes), max_dv, mismatched)
