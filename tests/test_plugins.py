"""The shape of the code: a layer kind and a neuron model added from this file alone (nothing
in the package edited) run through both engines, the brute-force counts, analytic energy and
`evsim energy`; no kind is chosen by comparing names outside its own module."""
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, NamedTuple

import numpy as np
import pytest

import energy
import evsim
from evsim.cli import main
from evsim.crossval import twins
from evsim.kinds import Kind
from evsim.kinds.spiking import add_neuron_model
from evsim.neurons import NEURON_MODELS, Twin, fire
from evsim.spec import ANALOG, INTEGER, load_spec, register
from evsim.spec.registry import LAYER_KINDS, unregister
from evsim.stats import Rate

from conftest import ROOT, write_spec


class AdaptiveLIF:
    """``alif``: LIF with an adaptive threshold (two state variables), forward Euler, dt = 1:
    H = V + (X − V)/τ;  A' = A − A/τ_a;  S = [H ≥ V_th + A'];  V = H(1 − S);  A = A' + β S."""

    NAME = "alif"
    OUTPUT_VALUES = "binary"

    class Parameters(NamedTuple):
        tau: float = 2.0
        tau_a: float = 4.0
        beta: float = 0.5
        v_threshold: float = 1.0

    class State(NamedTuple):
        v: np.ndarray
        a: np.ndarray

    @staticmethod
    def check(p):
        if p.tau < 1 or p.tau_a < 1:
            raise ValueError("time constants must be ≥ 1 step")

    @classmethod
    def initial_state(cls, shape, p, dtype):
        return cls.State(np.zeros(shape, dtype), np.zeros(shape, dtype))

    @classmethod
    def step(cls, x, state, p):
        h = state.v + (x - state.v) / p.tau
        a = state.a - state.a / p.tau_a
        s = fire(h, p.v_threshold + a)
        return s, cls.State(h * (1.0 - s), a + p.beta * s)

    @staticmethod
    def twin(p):
        eqs = "dv/dt = (-v + I(t, i)) / tau : 1\nda/dt = -a / tau_a : 1"
        return Twin(eqs, "v >= v_th + a", "v = 0\na += beta", {"v_th": p.v_threshold, "beta": p.beta},
                    {"tau": p.tau, "tau_a": p.tau_a}, {"v": 0.0, "a": 0.0}, "v")

    CROSSVAL = {"alif": (Parameters(2.0, 4.0, 0.5, 1.0), "adaptive-threshold LIF (a plug-in model)")}


@dataclass
class Gain(Kind):
    """``gain``: y = g ⊙ x, one learned gain per feature; an event x_i ≠ 0 costs one
    multiply-accumulate into y_i (fan-out 1)."""

    kind: ClassVar[str] = "gain"

    def parameter_shapes(self, in_shapes):
        return {"weight": (in_shapes[0][-1],)}

    def dense_ops(self, in_shapes, out_shape):
        return int(np.prod(in_shapes[0]))

    def synapses(self, in_shapes, out_shape):
        return int(np.prod(in_shapes[0]))

    def dense(self, plan, inputs, state):
        return inputs[0] * plan["weight"]

    def event(self, plan, inputs, state, counts, steps):
        x = inputs[0]
        out = np.zeros_like(x)
        g = np.broadcast_to(plan["weight"], x.shape[1:])
        for s, t in enumerate(range(steps.start, steps.stop)):
            where = np.nonzero(x[s])
            out[s][where] = x[s][where] * g[where]
            counts["synaptic_events"][t] = len(where[0])
            counts["weighted_synaptic_events"][t] = round(float(x[s][where].sum()))
            counts["synaptic_events_nonzero"][t] = np.count_nonzero(g[where])
        counts["dense_synaptic_ops"][steps] = counts["dense_macs"][steps] = x[0].size
        return out

    def count(self, params, inputs, output, facts, counts):
        x = inputs[0]
        counts["synaptic_events"][:] = [np.count_nonzero(xt) for xt in x]
        counts["weighted_synaptic_events"][:] = [round(float(xt.sum())) for xt in x]
        counts["synaptic_events_nonzero"][:] = [np.count_nonzero(xt * params["weight"]) for xt in x]
        counts["dense_synaptic_ops"][:] = counts["dense_macs"][:] = facts.in_elements

    def expected(self, facts, in_rates, out_rate, counts):
        counts["synaptic_events"][:] = counts["synaptic_events_nonzero"][:] = in_rates[0].events * facts.in_elements
        counts["weighted_synaptic_events"][:] = in_rates[0].spikes * facts.in_elements
        counts["dense_synaptic_ops"][:] = counts["dense_macs"][:] = facts.in_elements


SPEC = """name: plugin
input: {shape: [12], T: 6, encoding: frames, values: binary}
layers:
  - {name: fc1, kind: linear, out_features: 10}
  - {name: bn1, kind: batchnorm}
  - {name: ad, kind: alif, tau: 2.0, tau_a: 3.0, beta: 0.25}
  - {name: fc_other, kind: linear, out_features: 10, input: input}
  - {name: bn_other, kind: batchnorm}
  - {name: other, kind: lif}
  - {name: sum, kind: add, inputs: [ad, other]}
  - {name: scaled, kind: gain}
  - {name: fc2, kind: linear, out_features: 4}
  - {name: bn2, kind: batchnorm}
  - {name: out, kind: alif}
"""


@pytest.fixture
def plugins():
    register(Gain)
    add_neuron_model(AdaptiveLIF)
    yield
    unregister("gain")
    unregister("alif")
    NEURON_MODELS.pop("alif")


def test_plugin_kind_and_neuron_run_everywhere(tmp_path, plugins, capsys):
    spec = load_spec(write_spec(tmp_path, SPEC))
    assert spec.values["sum"] == INTEGER and spec.values["scaled"] == ANALOG
    params = evsim.synthetic_weights(spec, seed=0, target_rate=0.3)
    params["scaled"]["weight"] = np.array([0.0, 1.5, -2.0, 0.5, 1.0, 0.0, 2.0, -1.0, 0.25, 3.0])
    net = evsim.load(spec, params)
    frames = (np.random.default_rng(1).random((6, 12)) < 0.4).astype(float)
    dense_run, event_run = net.run(frames, engine="dense"), net.run(frames, engine="event")
    for name in ("ad", "other", "out"):
        assert np.array_equal(dense_run.spikes[name], event_run.spikes[name]), name
        assert 0 < dense_run.spikes[name].mean() < 1, name
    for name, stats in dense_run.stats.items():   # brute force (dense) = event counts, field for field
        for field, counts in stats.counts.items():
            assert np.array_equal(counts, event_run.stats[name].counts[field]), (name, field)
    gain = event_run.stats["scaled"]
    summed = event_run.spikes["ad"] + event_run.spikes["other"]
    assert gain.total("synaptic_events") == np.count_nonzero(summed)
    assert gain.total("weighted_synaptic_events") == summed.sum()
    assert gain.total("synaptic_events_nonzero") == np.count_nonzero(summed * params["scaled"]["weight"])

    # analytic energy from the measured rates reproduces the plug-in's measured synaptic events
    rates = {n: float(s.mean()) for n, s in event_run.spikes.items()}
    rates["input"] = float(frames.mean())
    rates["sum"] = Rate(float(np.mean(summed != 0)), float(summed.mean()))
    expected = energy.analytic_stats(spec, rates)["scaled"]
    assert expected.total("synaptic_events") == pytest.approx(gain.total("synaptic_events"))
    assert expected.total("weighted_synaptic_events") == pytest.approx(gain.total("weighted_synaptic_events"))
    measured = energy.estimate(event_run, convention="exact").total()
    assert measured > 0

    # the CLI sees both (its choices come from the registries)
    assert main(["energy", str(tmp_path / "spec.yaml"), "--synthetic-rate", "0.3", "--format", "csv"]) == 0
    assert "scaled,gain" in capsys.readouterr().out

    # and the plug-in neuron agrees with its Brian2 twin
    result = twins.compare("alif", twins.drive("alif", T=80, n=20))
    assert result.same_spikes and result.max_abs_dv < 1e-9 and result.evsim_spikes > 20


def test_incomplete_kind_is_refused_at_registration():
    @dataclass
    class Half(Kind):
        kind: ClassVar[str] = "half"

        def dense(self, plan, inputs, state):
            return inputs[0]

    with pytest.raises(evsim.EvsimError, match="lacks the facet.*count.*event.*expected"):
        register(Half)
    assert "half" not in LAYER_KINDS


def test_no_kind_name_dispatch_outside_the_kind_modules():
    pattern = re.compile(r"""(?<!dtype\.)\bkind\s*(==|!=|\bin\b|\bnot in\b)\s*[\"'(\[]|[\"']\w+[\"']\s*==\s*\w*\.?kind\b""")
    offenders = []
    for package in ("evsim", "energy"):
        for path in (ROOT / package).rglob("*.py"):
            if path.parent.name == "kinds" and path.parent.parent.name == "evsim":
                continue
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if pattern.search(line):
                    offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not offenders, "\n".join(offenders)


def test_every_package_is_installed():
    """setup.cfg lists its packages (models/ installs as evsim.models): none may be missing."""
    import configparser
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    listed = set(config["options"]["packages"].split())
    found = {".".join(p.parent.relative_to(ROOT).parts) for package in ("evsim", "energy")
             for p in (ROOT / package).rglob("*.py") if "__pycache__" not in p.parts}
    assert found <= listed, f"not installed: {sorted(found - listed)}"
    assert "evsim.models" in listed and (ROOT / "models" / "__init__.py").exists()
    assert Path(sys.modules["evsim.models"].__file__ if "evsim.models" in sys.modules
                else __import__("evsim.models").models.__file__).parent.name == "models"
