"""AT-SNN's adaptive token halting on Spikformer: halting off is Spikformer exactly, dense = event
spike for spike and count for count, halted tokens send no events and cost no updates, and
masked_linear saves exactly the halted tokens' events (counted independently)."""
import numpy as np
import pytest

import evsim
from evsim.spec import load_spec
from evsim.stats import COUNT_FIELDS

from conftest import write_spec

TINY = """extends: "evsim:spikformer.yaml"
name: tiny-{name}
input: {{shape: [3, 16, 16], T: 3, encoding: direct}}
params: {{D: 32, heads: 2, depth: 3, classes: 10, halting: {halting}, gamma: {gamma}, beta: {beta}, epsilon: 0.01}}
"""


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    plain = load_spec(write_spec(tmp_path_factory.mktemp("plain"), TINY.format(name="plain", halting=0, gamma=10, beta=30)))
    return plain, evsim.synthetic_weights(plain, seed=0, target_rate=0.2)


def halting_network(tmp_path, params, gamma, beta):
    spec = load_spec(write_spec(tmp_path, TINY.format(name="halting", halting=1, gamma=gamma, beta=beta)))
    return evsim.load(spec, params)


def image():
    return np.random.default_rng(5).standard_normal((3, 16, 16))


def test_halting_that_never_halts_is_spikformer_exactly(tmp_path, weights):
    plain_spec, params = weights
    plain = evsim.load(plain_spec, params).run(image(), engine="event")
    halting = halting_network(tmp_path, params, gamma=0.0, beta=1000.0).run(image(), engine="event")
    assert np.array_equal(plain.output, halting.output)
    assert plain.spikes.keys() == halting.spikes.keys()
    for name, spikes in plain.spikes.items():
        assert np.array_equal(spikes, halting.spikes[name]), name
    for name, stats in plain.stats.items():
        for field in COUNT_FIELDS:
            assert np.array_equal(stats.counts[field], halting.stats[name].counts[field]), (name, field)
    assert all(halting.stats[f"block.{b}.halt"].counts["tokens"].tolist() == [16] * 3 for b in range(3))


def test_dense_and_event_agree_with_tokens_halting(tmp_path, weights):
    _, params = weights
    net = halting_network(tmp_path, params, gamma=10.0, beta=5.0)
    dense, event = net.run(image(), engine="dense"), net.run(image(), engine="event")
    assert np.allclose(dense.output, event.output, rtol=1e-12)    # the analog head sums in another order
    for name, spikes in dense.spikes.items():
        assert np.array_equal(spikes, event.spikes[name]), name
    for name, stats in dense.stats.items():
        for field, counts in stats.counts.items():
            assert np.array_equal(counts, event.stats[name].counts[field]), (name, field)
    processed = np.array([event.stats[f"block.{b}.halt"].counts["tokens"] for b in range(3)])   # [block, step]
    assert 0 < processed.sum() < 3 * 3 * 16 and np.all(np.diff(processed, axis=0) <= 0)   # halted stays halted
    for b in range(3):
        tokens = processed[b]
        for layer in ("attn.q_linear", "mlp.fc1_linear", "mlp.fc2_linear"):
            assert np.array_equal(event.stats[f"block.{b}.{layer}"].counts["tokens"], tokens)
        assert np.array_equal(event.stats[f"block.{b}.mlp.fc1_lif"].counts["neuron_updates"], tokens * 128)
        assert np.array_equal(event.stats[f"block.{b}.attn.proj_linear"].counts["bias_adds"], tokens * 32)


def test_masked_linear_saves_exactly_the_halted_tokens_events(tmp_path):
    text = """name: one
input: {shape: [10, 6], T: 2, encoding: frames, values: integer}
layers:
  - {name: halt, kind: halting, inputs: [input, input], first: true, gamma: 10.0, beta: 15.0}
  - {name: fc, kind: masked_linear, inputs: [input, halt], out_features: 5}
"""
    spec = load_spec(write_spec(tmp_path, text))
    rng = np.random.default_rng(0)
    x = rng.integers(0, 3, (2, 10, 6)).astype(float) * (rng.random((2, 10, 6)) < 0.6)
    params = {"fc": {"weight": rng.standard_normal((5, 6)), "bias": rng.standard_normal(5)}}
    run = evsim.load(spec, params).run(x, engine="event")
    halted = 1 / (1 + np.exp(-(10 * x[..., 0] - 15))) >= 0.99        # h ≥ 1 − ε in the first block
    assert 0 < halted.sum() < halted.size
    nnz = np.count_nonzero(x, axis=2)                                   # [T, N]
    fc = run.stats["fc"].counts
    assert np.array_equal(fc["synaptic_events"], (nnz * ~halted).sum(axis=1) * 5)
    assert np.array_equal(fc["synaptic_events"], nnz.sum(axis=1) * 5 - (nnz * halted).sum(axis=1) * 5)
    assert np.array_equal(fc["tokens"], (~halted).sum(axis=1))
    expected = (x @ params["fc"]["weight"].T + params["fc"]["bias"]) * ~halted[..., None]
    assert np.allclose(run.output, expected, atol=1e-12)


@pytest.mark.slow
def test_token_reduction_audit_row():
    """The AT-SNN audit row recomputes tokens and energy with and without halting on the same
    weights and inputs (Spikformer-4-384, CIFAR-100; about 20 s of calibration and runs)."""
    from energy.audit import audit
    from evsim.cli import measure_runs
    row, = audit(reprice=False, measure=measure_runs, ids=["at-snn-token-reduction"])
    checks = {c.quantity: c.recomputed for c in row.checks}
    plain, halted = (checks[f"tokens processed by the blocks per inference, {w} halting"] for w in ("without", "with"))
    assert plain == 4 * 4 * 64 and 0 < halted < plain
    assert checks["token reduction by halting"] == pytest.approx(100 * (1 - halted / plain))
    assert checks["synaptic events per inference, with halting"] < checks["synaptic events per inference, without halting"]
    assert 0 < checks["energy with halting (exact, horowitz45-fp32)"] < checks["energy without halting (exact, horowitz45-fp32)"]


def test_synthetic_weights_calibrate_a_halting_spec_directly(tmp_path):
    """Calibrating the halting spec itself (masked LIF layers get the mask as a second input):
    a BN-fed masked LIF fires at the target rate on the calibration sample, as its plain twin does."""
    spec = load_spec(write_spec(tmp_path, TINY.format(name="halting", halting=1, gamma=0.0, beta=1000.0)))
    params = evsim.synthetic_weights(spec, seed=0, target_rate=0.2)
    run = evsim.load(spec, params).run(evsim.sample_input(spec, 0), engine="dense")
    masked = [n for n, layer in spec.layers.items() if layer.kind == "masked_lif" and spec.layers[layer.inputs[0]].kind == "batchnorm"]
    assert masked
    for name in masked:
        elements, events, _ = run.activity[name]
        assert events / elements == pytest.approx(0.2, abs=0.01), name
