"""Recurrent specs: an input written {from: name, delay: d} may close a cycle; the cycle runs
step-major, the rest layer-major. References: a step-by-step NumPy loop written here, and
dense = event (spikes and counts = brute force)."""
import numpy as np
import pytest

import evsim
from evsim.errors import SpecError
from evsim.spec import load_spec

from conftest import write_spec

RECURRENT = """
input: {shape: [6], T: 30, encoding: frames}
layers:
  - {name: fc_in, kind: linear, out_features: 8, bias: false}
  - {name: sum, kind: add, inputs: [fc_in, {from: w_rec, delay: 1}]}
  - {name: lif, kind: leaky, beta: 0.75}
  - {name: w_rec, kind: linear, out_features: 8, bias: false}
  - {name: fc_out, kind: linear, out_features: 3, input: lif, bias: false}
  - {name: out, kind: lif_euler, dt_tau: 0.5}
"""


def reference(params, x):
    """The same network by hand: I[t] = W_in x[t] + W_rec S[t−1], snnTorch's Leaky, then a readout."""
    w_in, w_rec, w_out = (params[k]["weight"] for k in ("fc_in", "w_rec", "fc_out"))
    v, s, v2 = np.zeros(8), np.zeros(8), np.zeros(3)
    spikes, out = [], []
    for t in range(x.shape[0]):
        r = (v > 1.0).astype(float)
        v = 0.75 * v + (w_in @ x[t] + w_rec @ s) - r * 1.0
        s = (v > 1.0).astype(float)
        h = v2 + 0.5 * ((w_out @ s + 0.0) - v2)
        o = (h > 1.0).astype(float)
        v2 = h * (1 - o)
        spikes.append(s)
        out.append(o)
    return np.array(spikes), np.array(out)


def test_recurrent_spec_runs_step_major_and_matches_a_hand_loop(tmp_path):
    spec = load_spec(write_spec(tmp_path, RECURRENT))
    assert spec.recurrent == [("sum", "lif", "w_rec")]
    assert list(spec.layers) == ["fc_in", "sum", "lif", "w_rec", "fc_out", "out"]
    rng = np.random.default_rng(0)
    params = {"fc_in": {"weight": rng.normal(0, 1.0, (8, 6))}, "w_rec": {"weight": rng.normal(0, 0.8, (8, 8))},
              "fc_out": {"weight": rng.normal(0, 1.2, (3, 8))}}
    x = (rng.random((30, 6)) < 0.4).astype(float)
    net = evsim.load(spec, params)
    dense, event = net.run(x, engine="dense"), net.run(x, engine="event")
    spikes, out = reference(params, x)
    assert 20 < spikes.sum() < spikes.size - 20
    for run in (dense, event):
        assert np.array_equal(run.spikes["lif"], spikes)
        assert np.array_equal(run.output, out)
    for layer, stats in dense.stats.items():
        for key, counts in stats.counts.items():
            assert np.array_equal(counts, event.stats[layer].counts[key]), (layer, key)


def test_feed_forward_delay_shifts_its_input(tmp_path):
    spec = load_spec(write_spec(tmp_path, """
input: {shape: [4], T: 5, encoding: frames}
layers:
  - {name: a, kind: scale}
  - {name: b, kind: add, inputs: [a, {from: a, delay: 2}]}
"""))
    x = np.arange(20.0).reshape(5, 4)
    net = evsim.load(spec, {"a": {"scale": np.ones(4)}})
    expected = x.copy()
    expected[2:] += x[:3]
    for engine in ("dense", "event"):
        assert np.array_equal(net.run(x, engine=engine).output, expected)


def test_cycle_without_delay_is_an_error_naming_a_layer(tmp_path):
    with pytest.raises(SpecError, match=r"spec.yaml:\d+: layer 'sum': the layers \['sum', 'lif', 'w_rec'\] form a cycle "
                                        r"without a delay — .*delay: 1"):
        load_spec(write_spec(tmp_path, RECURRENT.replace("{from: w_rec, delay: 1}", "w_rec")))


def test_malformed_delayed_input_is_an_error(tmp_path):
    with pytest.raises(SpecError, match=r"layer 'sum': a delayed input is written \{from: name, delay: steps ≥ 1\}"):
        load_spec(write_spec(tmp_path, RECURRENT.replace("delay: 1", "delay: 0")))
