"""Spikingformer and the Spike-Driven Transformer: parameter counts against the published figures,
the SDSA kinds against an independent NumPy formulation of the official code, whole (shrunk) networks
dense = event spike for spike in float64 with counts equal to the brute force, and the audit rows."""
import numpy as np
import pytest
from test_event_engine import assert_same, shrunk
from test_sssa_dista import assert_counts_equal, brute_counts, run_kind, spikes

import evsim
from energy.audit import audit
from evsim import load_spec
from evsim.kinds.mask import Mask
from evsim.kinds.sdsa_sum import SDSASum
from evsim.spec.layer import ShapeProblem

from conftest import MODELS

# Spikingformer README (github.com/zhouchenlin2096/Spikingformer): ImageNet and CIFAR tables, M parameters.
SPIKINGFORMER_PARAMS_M = {"imagenet-8-384": 16.81, "imagenet-8-512": 29.68, "imagenet-8-768": 66.34,
                          "cifar10-4-256": 4.15, "cifar10-2-384": 5.76, "cifar10-4-384": 9.32}


@pytest.mark.parametrize("config,claimed", SPIKINGFORMER_PARAMS_M.items())
def test_spikingformer_parameters_match_the_readme(config, claimed):
    spec = load_spec(MODELS / f"spikingformer-{config}.yaml")
    assert abs(spec.param_count / 1e6 - claimed) <= 0.02


@pytest.mark.parametrize("config", ["imagenet-8-384", "imagenet-6-512", "imagenet-8-512", "imagenet-10-512",
                                    "imagenet-8-768"])
def test_sdt_has_spikformers_parameter_shapes(config):
    """SDT v1 keeps Spikformer's weights (SPS with RPE, q/k/v/proj, MLP, head) and moves only the
    residuals and neurons; its unused talking_heads Conv1d (heads² per block) is not in the spec."""
    sdt = load_spec(MODELS / f"sdt-{config}.yaml")
    spikformer = load_spec(MODELS / f"spikformer-{config}.yaml")
    assert sdt.param_count == spikformer.param_count


def sdsa_reference(q, k, v, heads, v_threshold=0.5, tau=2.0):
    """The official MS_SSA_Conv, written out: per head kv = Σ_n k ⊙ v, talking_heads_lif over time
    (charge H = V + (X − V)/τ, fire H ≥ V_th, hard reset to 0), x = q ⊙ kv."""
    T, N, D = q.shape
    d = D // heads
    split = lambda a: a.reshape(T, N, heads, d).transpose(0, 2, 1, 3)  # noqa: E731
    kv = (split(k) * split(v)).sum(axis=2, keepdims=True)               # [T, heads, 1, d]
    V = np.zeros_like(kv[0])
    fired = np.zeros_like(kv)
    for t in range(T):
        H = V + (kv[t] - V) / tau
        fired[t] = H >= v_threshold
        V = H * (1 - fired[t])
    return (split(q) * fired).transpose(0, 2, 1, 3).reshape(T, N, D), kv


@pytest.mark.parametrize("rate", [0.05, 0.3, 0.8])
def test_sdsa_sum_and_mask_against_the_official_formula(rate):
    rng = np.random.default_rng(int(rate * 100))
    T, N, D, heads = 4, 13, 24, 3
    q, k, v = (spikes((T, N, D), rate, rng) for _ in range(3))
    out_ref, kv_ref = sdsa_reference(q, k, v, heads)
    layer = SDSASum("kv", ("k", "v"))
    sums = {}
    for engine in ("dense", "event"):
        sums[engine], counts = run_kind(layer, {}, [k, v], engine)
        assert np.array_equal(sums[engine][:, 0], kv_ref.transpose(0, 2, 1, 3).reshape(T, D))
    assert_counts_equal(counts, brute_counts(layer, {}, [k, v], sums["event"]))
    assert np.array_equal(counts["synaptic_events"], (k * v).sum(axis=(1, 2)))   # one addition per coincidence
    assert np.all(counts["dense_macs"] == N * D)
    # talking_heads_lif (written out as in the reference), then the mask
    gate = np.zeros_like(sums["dense"])
    V = np.zeros(sums["dense"].shape[1:])
    for t in range(T):   # the same LIF, the gate the official code multiplies q with
        H = V + (sums["dense"][t] - V) / 2.0
        gate[t] = H >= 0.5
        V = H * (1 - gate[t])
    masked = Mask("mask", ("q", "gate")).dense({}, [q, gate], {})
    assert np.array_equal(masked, out_ref)


def test_mask_per_head_token_gate_and_shape_errors():
    rng = np.random.default_rng(1)
    x, g = spikes((2, 5, 6), 0.5, rng), spikes((2, 5, 3), 0.5, rng)
    out = Mask("m", ("x", "g")).dense({}, [x, g], {})
    assert np.array_equal(out, x * np.repeat(g, 2, axis=2))
    with pytest.raises(ShapeProblem):
        Mask("m", ("x", "g")).output_shape([(5, 6), (2, 6)])


def test_sdsa_sum_expected_counts_closed_form():
    from evsim.stats import Rate
    layer = SDSASum("kv", ("k", "v"))
    rate = layer.output_rate(type("F", (), {"in_shapes": [(196, 512)]})(), [Rate(0.2, 0.2), Rate(0.1, 0.1)])
    assert rate.spikes == pytest.approx(196 * 0.02)
    assert rate.events == pytest.approx(1 - 0.98 ** 196)


SHRUNK = [("spikingformer-cifar10-4-256", None, 1, 0.05), ("spikingformer-imagenet-8-384", 64, 1, 0.25),
          ("sdt-cifar10-2-256", None, 1, 0.25), ("sdt-imagenet-8-384", 64, 2, 0.05)]


@pytest.mark.slow   # 15–50 s each on 2 shared cores (the first includes Numba compilation)
@pytest.mark.parametrize("model,size,depth,rate", SHRUNK)
def test_spike_driven_configs_spike_for_spike(tmp_path, model, size, depth, rate):
    spec = shrunk(tmp_path, model, size, depth)
    net = evsim.load(spec, evsim.synthetic_weights(spec, seed=3, target_rate=rate))
    x = evsim.sample_input(spec, 3)
    dense, event = net.run(x, engine="dense"), net.run(x, engine="event")
    assert_same(dense, event)
    binary_inputs = [n for n, s in event.stats.items() if s.input_values != "binary"]
    # spike-driven: after the first conv only the head (SDT: none) and residual plumbing see non-binary values
    synaptic = [n for n in binary_inputs if event.stats[n].total("dense_macs") and "conv" in n.split(".")[-1]]
    assert len(synaptic) == 1, synaptic


@pytest.mark.slow   # the audit bisects an implied rate for every row (about a minute here)
def test_audit_rows():
    rows = {r.id: r for r in audit(reprice=False)}
    for config in ("8-384", "8-512", "8-768"):
        checks = {c.quantity: c for c in rows[f"spikingformer-imagenet-{config}"].checks}
        assert checks["parameters"].status == "consistent"
        assert checks["energy from the claimed OPs"].status == "consistent"
    log = {c.quantity: c for c in rows["spikingformer-imagenet-8-512-log"].checks}
    # the log's 0.347329512 G MACs are the first conv (0.346816512 G over T) plus the head (512·1000 + 1000
    # bias, once): its counter charges the head as MAC, Spikformer's method does not — the whole difference
    energy = log["energy from the claimed OPs"]
    assert energy.status == "INCONSISTENT"
    assert energy.claimed - energy.recomputed == pytest.approx(4.6 * (512 * 1000 + 1000) / 1e9, abs=1e-12)
    for config in ("8-384", "6-512", "8-512", "10-512", "8-768"):
        checks = {c.quantity: c for c in rows[f"sdt-imagenet-{config}"].checks}
        assert 0 < checks["mean firing rate the implied SOPs imply"].recomputed < 1
