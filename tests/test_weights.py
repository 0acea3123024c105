"""Weights files: round trips, BatchNorm folding, and one clear error per kind of bad file."""
import numpy as np
import pytest

import evsim
from evsim import WeightsError, load_spec
from evsim import weights as weights_io

from conftest import perturbed_weights, write_spec


@pytest.fixture
def spec(every_kind_path):
    return load_spec(every_kind_path)


@pytest.mark.parametrize("suffix", [".npz", ".safetensors"])
def test_round_trip(tmp_path, spec, suffix):
    params = perturbed_weights(spec, 1, 0.2)
    path = tmp_path / f"w{suffix}"
    weights_io.save(params, path)
    net = evsim.load(spec, path)
    for layer, entry in params.items():
        for key, value in entry.items():
            assert np.array_equal(net.params[layer][key], value)
    assert not list(tmp_path.glob(".w*")), "no temporary file left behind"


def test_safetensors_metadata(tmp_path, spec):
    params = perturbed_weights(spec, 1, 0.2)
    path = tmp_path / "w.safetensors"
    weights_io.save(params, path, metadata={"test_accuracy": "0.97", "seed": "0"})
    assert weights_io.read_metadata(path) == {"test_accuracy": "0.97", "seed": "0"}
    weights_io.save(params, path)
    assert weights_io.read_metadata(path) == {}
    with pytest.raises(WeightsError, match="only .safetensors files hold metadata"):
        weights_io.save(params, tmp_path / "w.npz", metadata={"seed": "0"})
    with pytest.raises(WeightsError, match="must be strings"):
        weights_io.save(params, path, metadata={"seed": 0})


def test_batchnorm_folding_is_exact_in_function(spec):
    params = perturbed_weights(spec, 2, 0.2)
    folded, fused = weights_io.fold(spec, params), spec.fused
    assert fused["bn_a"] == "conv_a" and fused["q_bn"] == "q_linear" and fused["side_bn"] == "side_head"
    x = np.random.default_rng(0).standard_normal((2, 4, 9, 9))
    layer, bn = spec.layers["conv_a"], spec.layers["bn_a"]
    conv = lambda p: layer.dense(layer.prepare(p, np.float64, None, "dense"), [x], {})  # noqa: E731
    unfolded = bn.dense(bn.prepare(params["bn_a"], np.float64, None, "dense"), [conv(params["conv_a"])], {})
    refolded = conv(folded["conv_a"])
    assert np.allclose(unfolded, refolded, rtol=1e-12, atol=1e-12)
    assert "weight" in params["bn_a"], "the unfolded form stays available"


def _saved(tmp_path, flat):
    path = tmp_path / "bad.npz"
    np.savez(path, **flat)
    return path


@pytest.mark.parametrize("damage,fragments", [
    (lambda f: f.pop("conv_a.weight"), ["bad.npz", "layer 'conv_a'", "missing 1 weight", "every_kind.yaml:"]),
    (lambda f: f.__setitem__("conv_z.weight", np.zeros(3)), ["bad.npz", "the spec has no place for", "conv_z.weight"]),
    (lambda f: f.__setitem__("q_linear.weight", np.zeros((8, 7))), ["layer 'q_linear'", "shape [8, 7]", "expects [8, 6]"]),
    (lambda f: f.__setitem__("head.bias", np.zeros(3, dtype=np.int32)), ["layer 'head'", "dtype int32"]),
    (lambda f: f["k_linear.weight"].__setitem__((0, 0), np.nan), ["layer 'k_linear'", "NaN or infinite"]),
    (lambda f: f.__setitem__("bn_a.running_var", -np.ones(6)), ["layer 'bn_a'", "negative"]),
])
def test_each_bad_weights_file_gets_its_own_error(tmp_path, spec, damage, fragments):
    flat = weights_io.flatten(perturbed_weights(spec, 3, 0.2))
    damage(flat)
    with pytest.raises(WeightsError) as err:
        evsim.load(spec, _saved(tmp_path, flat))
    for fragment in fragments:
        assert fragment in str(err.value)


def test_unreadable_and_unknown_format(tmp_path, spec):
    bad = tmp_path / "w.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(WeightsError, match="cannot read weights"):
        evsim.load(spec, bad)
    torch_file = tmp_path / "w.pt"
    torch_file.write_bytes(b"x")
    with pytest.raises(WeightsError, match="unknown weights format"):
        evsim.load(spec, torch_file)


def test_synthetic_weights_are_deterministic_and_hit_the_rate(spec):
    a = evsim.synthetic_weights(spec, seed=5, target_rate=0.1)
    b = evsim.synthetic_weights(spec, seed=5, target_rate=0.1)
    assert all(np.array_equal(a[l][k], b[l][k]) for l in a for k in a[l])
    run = evsim.load(spec, a).run(evsim.sample_input(spec, 5))
    for name in ("lif_a", "lif_c", "q_lif", "k_lif", "v_lif"):  # BN-fed spiking layers are calibrated
        assert run.firing_rate(name) == pytest.approx(0.1, abs=0.02)


def test_network_without_weights_says_what_to_do(spec):
    with pytest.raises(WeightsError, match="synthetic_weights"):
        evsim.load(spec).run(np.zeros((4, 9, 9)))


def test_calibration_sees_through_a_max_pool(tmp_path):
    """conv → BN → max-pool → LIF (QKFormer, SDT): max(g·y + s) = g·max(y) + s for g > 0, so the BN is
    calibrated for the LIF behind the pool as if the pool were not there."""
    text = """name: pooled
input: {shape: [3, 16, 16], T: 4, encoding: direct}
layers:
  - {name: conv, kind: conv2d, out_channels: 8, kernel_size: 3, padding: 1}
  - {name: bn, kind: batchnorm}
  - {name: pool, kind: maxpool2d, kernel_size: 3, stride: 2, padding: 1}
  - {name: lif, kind: lif}
"""
    spec = evsim.load_spec(write_spec(tmp_path, text))
    for rate in (0.05, 0.2):
        weights = evsim.synthetic_weights(spec, seed=2, target_rate=rate)
        run = evsim.load(spec, weights).run(evsim.sample_input(spec, 2))
        assert run.firing_rate("lif") == pytest.approx(rate, abs=0.02)
