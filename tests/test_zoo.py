"""Spikingformer, the Spike-Driven Transformer and QKFormer: parameter counts against the published
figures, the SDSA and Q-K attention kinds against independent NumPy formulations of the official code,
whole (shrunk) networks dense = event spike for spike in float64 with counts equal to the brute force,
and the audit rows."""
import numpy as np
import pytest
from test_event_engine import assert_same, shrunk
from test_sssa_dista import assert_counts_equal, brute_counts, run_kind, spikes

import evsim
from energy.audit import audit
from evsim import load_spec
from evsim.kinds.image import Image
from evsim.kinds.mask import Mask
from evsim.kinds.qk_sum import QKChannelSum, QKTokenSum
from evsim.kinds.sdsa_sum import SDSASum
from evsim.kinds.tokens import Tokens
from evsim.spec.layer import ShapeProblem

from conftest import MODELS, write_spec

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


def lif_over_time(x, v_threshold=0.5, tau=2.0):
    """SpikingJelly's MultiStepLIFNode(tau, v_threshold, detach_reset) over the leading time axis:
    charge H = V + (X − V)/τ, fire H ≥ V_th, hard reset V = H (1 − S) to 0."""
    V = np.zeros_like(x[0])
    fired = np.zeros_like(x)
    for t in range(x.shape[0]):
        H = V + (x[t] - V) / tau
        fired[t] = H >= v_threshold
        V = H * (1 - fired[t])
    return fired


def sdsa_reference(q, k, v, heads):
    """The official MS_SSA_Conv, written out: per head kv = Σ_n k ⊙ v, talking_heads_lif (threshold
    0.5) over time, x = q ⊙ kv."""
    T, N, D = q.shape
    d = D // heads
    split = lambda a: a.reshape(T, N, heads, d).transpose(0, 2, 1, 3)  # noqa: E731
    kv = (split(k) * split(v)).sum(axis=2, keepdims=True)               # [T, heads, 1, d]
    return (split(q) * lif_over_time(kv)).transpose(0, 2, 1, 3).reshape(T, N, D), kv


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
    # talking_heads_lif, then the mask
    masked = Mask("mask", ("q", "gate")).dense({}, [q, lif_over_time(sums["dense"])], {})
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


# -- QKFormer's Q-K attention ---------------------------------------------------------------

def qkta_reference(q, k, heads):
    """The official Token_QK_Attention from q_lif and k_lif on, in its own layout [T, heads, d, N]:
    q summed over the d channels of each head (torch.sum(q, dim=3)), attn_lif (threshold 0.5) over time,
    k · attn, flattened back to [T, C, N]. Returns (x as [T, N, D], the sums as [T, heads, N])."""
    T, N, D = q.shape
    d = D // heads
    official = lambda a: a.transpose(0, 2, 1).reshape(T, heads, d, N)  # noqa: E731
    sums = official(q).sum(axis=2, keepdims=True)                       # [T, heads, 1, N]
    x = (official(k) * lif_over_time(sums)).reshape(T, D, N).transpose(0, 2, 1)
    return x, sums[:, :, 0]


def qkca_reference(q, k):
    """Q-K channel attention (paper, Eq. of QKCA): A_c[j] = SN(Σ_n Q[n, j]), x = K ⊙ A_c."""
    sums = q.sum(axis=1)                                                # [T, D]
    return k * lif_over_time(sums)[:, None, :], sums


@pytest.mark.parametrize("rate", [0.05, 0.3, 0.9])
def test_qk_token_attention_against_the_official_formula(rate):
    rng = np.random.default_rng(int(rate * 100) + 1)
    T, N, D, heads = 4, 11, 24, 3
    q, k = spikes((T, N, D), rate, rng), spikes((T, N, D), rate, rng)
    out_ref, sums_ref = qkta_reference(q, k, heads)
    layer = QKTokenSum("q_sum", ("q",), heads=heads)
    sums = {}
    for engine in ("dense", "event"):
        sums[engine], counts = run_kind(layer, {}, [q], engine)
        assert np.array_equal(sums[engine], sums_ref.transpose(0, 2, 1)), engine
    assert_counts_equal(counts, brute_counts(layer, {}, [q], sums["event"]))
    assert np.array_equal(counts["synaptic_events"], q.sum(axis=(1, 2)))   # one addition per spike of Q
    assert np.all(counts["dense_macs"] == N * D) and np.all(counts["tokens"] == N)
    masked = Mask("mask", ("k", "gate")).dense({}, [k, lif_over_time(sums["dense"])], {})
    assert np.array_equal(masked, out_ref)


@pytest.mark.parametrize("rate", [0.02, 0.4])
def test_qk_channel_attention_against_the_paper_formula(rate):
    rng = np.random.default_rng(int(rate * 100) + 2)
    T, N, D = 5, 9, 16
    q, k = spikes((T, N, D), rate, rng), spikes((T, N, D), rate, rng)
    out_ref, sums_ref = qkca_reference(q, k)
    layer = QKChannelSum("q_sum", ("q",))
    for engine in ("dense", "event"):
        out, counts = run_kind(layer, {}, [q], engine)
        assert np.array_equal(out[:, 0], sums_ref), engine
    assert_counts_equal(counts, brute_counts(layer, {}, [q], out))
    assert np.array_equal(counts["synaptic_events"], q.sum(axis=(1, 2)))
    assert np.array_equal(Mask("mask", ("k", "gate")).dense({}, [k, lif_over_time(out)], {}), out_ref)


def test_qk_sums_one_step_at_a_time_equal_all_steps():
    rng = np.random.default_rng(3)
    q = spikes((4, 7, 12), 0.3, rng)
    for layer in (QKTokenSum("s", ("q",), heads=4), QKChannelSum("s", ("q",))):
        whole, counts = run_kind(layer, {}, [q], "event")
        for t in range(4):
            step, step_counts = run_kind(layer, {}, [q[t:t + 1]], "event", t0=t)
            assert np.array_equal(step[0], whole[t])
            assert step_counts["synaptic_events"][t] == counts["synaptic_events"][t]


QK_SPEC = """name: qk
input: {shape: [6, 8], T: 1, encoding: frames, values: binary}
layers:
  - {name: q, kind: lif, v_threshold: 0.5}
  - {name: tok, kind: qk_token_sum, heads: 2}
  - {name: chan, kind: qk_channel_sum, input: q}
"""


def test_qk_sums_expected_counts_and_rates_by_hand(tmp_path):
    import energy
    from energy.analytic import propagate_rates
    spec = load_spec(write_spec(tmp_path, QK_SPEC))
    r = 0.25   # q at r: N·D = 48 elements, heads of d = 4 channels, columns of N = 6 tokens
    rates = propagate_rates(spec, {"input": 0.5, "q": r})
    assert rates["tok"].events == pytest.approx(1 - 0.75 ** 4) and rates["tok"].spikes == pytest.approx(4 * r)
    assert rates["chan"].events == pytest.approx(1 - 0.75 ** 6) and rates["chan"].spikes == pytest.approx(6 * r)
    stats = energy.analytic_stats(spec, {"input": 0.5, "q": r})
    for name in ("tok", "chan"):
        assert stats[name].total("synaptic_events") == pytest.approx(r * 48)
        assert stats[name].total("dense_macs") == stats[name].total("dense_synaptic_ops") == 48
    paper = {row.layer: row for row in energy.analytic(spec, {"input": 0.5, "q": r}, convention="paper").rows}
    assert paper["tok"].ac == pytest.approx(r * 48)   # fr × dense: r · N · D additions


def test_qk_sums_refuse_what_the_code_cannot_do():
    with pytest.raises(ShapeProblem, match="not divisible into 5 heads"):
        QKTokenSum("s", ("q",), heads=5).output_shape([(4, 12)])
    with pytest.raises(ShapeProblem, match="must be binary"):
        QKChannelSum("s", ("q",)).output_values(["integer"])
    with pytest.raises(ShapeProblem, match="positive int"):
        QKTokenSum("s", ("q",), heads=0)


def test_image_undoes_tokens():
    rng = np.random.default_rng(5)
    x = rng.integers(0, 3, (2, 4, 3, 5)).astype(float)      # [S, C, H, W]
    tokens = Tokens("t", ("x",)).dense({}, [x], {})
    assert np.array_equal(Image("i", ("t",), height=3).dense({}, [tokens], {}), x)
    assert Image("i", ("t",)).output_shape([(16, 7)]) == (7, 4, 4)
    with pytest.raises(ShapeProblem, match="not a square"):
        Image("i", ("t",)).output_shape([(15, 7)])


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


# QKFormer's published parameters (arXiv 2403.16552, ImageNet table and README; CIFAR and DVS tables) and the
# exact counts its repository's training logs print (n_parameters / "param count"): the specs hit every log exactly.
QKFORMER_PARAMS = {"imagenet-10-384": (16.47, None), "imagenet-10-512": (29.08, None),
                   "imagenet-10-768": (64.96, 64962760), "cifar10-4-384": (6.74, 6706234),
                   "cifar100-4-384": (6.74, 6740884), "cifar10dvs-2-256": (1.50, 1504138)}


@pytest.mark.parametrize("config,claimed", QKFORMER_PARAMS.items())
def test_qkformer_parameters_match_the_paper_and_the_logs(config, claimed):
    paper_m, logged = claimed
    count = load_spec(MODELS / f"qkformer-{config}.yaml").param_count
    if logged is not None:
        assert count == logged
    # the paper's 6.74 M is the CIFAR-100 model (its 100-class head); CIFAR-10's is 6.71 M
    assert abs(count / 1e6 - paper_m) <= (0.035 if config == "cifar10-4-384" else 0.005)


QKFORMER_SHRUNK = [("qkformer-cifar10-4-384", 16, None, 0.15), ("qkformer-imagenet-10-384", 64, 4, 0.1),
                   ("qkformer-cifar10dvs-2-256", 32, None, 0.1)]


@pytest.mark.slow   # 20–60 s each on 2 shared cores
@pytest.mark.parametrize("model,size,depth,rate", QKFORMER_SHRUNK)
def test_qkformer_configs_spike_for_spike(tmp_path, model, size, depth, rate):
    """Dense = event in float64, counts equal field for field; every Q-K sum adds exactly nnz(Q) per step
    and every gate masks K per head (the mask's output is K where the head's token fired)."""
    spec = shrunk(tmp_path, model, size, depth)
    net = evsim.load(spec, evsim.synthetic_weights(spec, seed=5, target_rate=rate))
    x = evsim.sample_input(spec, 4)
    dense, event = net.run(x, engine="dense"), net.run(x, engine="event")
    assert_same(dense, event)
    sums = [n for n, layer in spec.layers.items() if layer.kind == "qk_token_sum"]
    assert sums and all(event.stats[n].total("synaptic_events") == event.stats[n].total("input_events") for n in sums)
    assert all(event.stats[n].total("synaptic_events") > 0 for n in sums)


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


@pytest.mark.slow   # about 20 s: the audit bisects the implied rate of five specs
def test_qkformer_audit_rows():
    """Each QKFormer row recomputed: parameters against paper and logs; the SOPs the energy implies under
    the paper's method, E = 4.6 pJ × first-conv MACs over T + 0.9 pJ × SOPs, with the first conv's MACs
    written out by hand (3 → D/8 channels, 3 × 3, every pixel); the implied uniform rate reproduces the
    claimed energy through the analytic paper convention; the one trained HST-10-768 implies one rate at
    every resolution."""
    import energy
    ids = ["qkformer-imagenet-10-384", "qkformer-imagenet-10-512", "qkformer-imagenet-10-768",
           "qkformer-imagenet288-10-768", "qkformer-imagenet384-10-768", "qkformer-imagenet-10-768-log",
           "qkformer-cifar10-4-384", "qkformer-cifar10-4-384-log", "qkformer-cifar100-4-384", "qkformer-cifar10dvs"]
    rows = {r.id: {c.quantity: c for c in r.checks} for r in audit(reprice=False, ids=ids)}
    rates = {}
    for row_id, (d, size, energy_mj) in {"imagenet-10-384": (384, 224, 15.13), "imagenet-10-512": (512, 224, 21.99),
                                         "imagenet-10-768": (768, 224, 38.91), "imagenet288-10-768": (768, 288, 64.27),
                                         "imagenet384-10-768": (768, 384, 113.64)}.items():
        checks = rows[f"qkformer-{row_id}"]
        assert checks["parameters"].status == "consistent"
        first = 3 * (d // 8) * 9 * size * size * 4
        assert checks["first-conv MACs over T"].recomputed == pytest.approx(first / 1e9, rel=1e-12)
        sops = (energy_mj * 1e9 - 4.6 * first) / 0.9
        assert checks["SOPs the claimed energy implies"].recomputed == pytest.approx(sops / 1e9, rel=1e-12)
        rates[row_id] = checks["mean firing rate the implied SOPs imply"].recomputed
        assert 0.05 < rates[row_id] < 0.25
        spec = load_spec(MODELS / f"qkformer-{row_id}.yaml")
        paper = energy.analytic(spec, {"default": rates[row_id]}, "horowitz45-fp32", "paper")
        head_mj = 4.6 * (d * 1000 + 1000) / 1e9   # the head (analog input) is MAC in evsim's paper convention
        assert paper.total_mj - head_mj == pytest.approx(energy_mj, rel=1e-6)
    assert max(rates[k] for k in rates if "768" in k) / min(rates[k] for k in rates if "768" in k) < 1.01
    assert rows["qkformer-imagenet-10-768-log"]["parameters"].status == "consistent"
    assert rows["qkformer-cifar10-4-384-log"]["parameters"].status == "consistent"
    assert rows["qkformer-cifar100-4-384"]["parameters"].status == "consistent"
    assert rows["qkformer-cifar10dvs"]["parameters"].status == "consistent"
    # the paper's CIFAR-10 6.74 M is the CIFAR-100 model's count: the 10-class head has 90 × 385 parameters fewer
    cifar10 = rows["qkformer-cifar10-4-384"]["parameters"]
    assert cifar10.status == "INCONSISTENT"
    assert (6740884 - 90 * 385) / 1e6 == pytest.approx(cifar10.recomputed, abs=1e-12)
