"""AT-SNN's token merging (ToMe's bipartite soft matching) on Spikformer: merging off is
Spikformer exactly (with or without halting), dense = event spike for spike and count for
count, a fixed r gives the token counts it promises (measured and analytic), and the merged
kinds agree with an independent NumPy reference of the matching, the size-weighted average,
the neurons' state merging and the events merging saves."""
import math

import numpy as np
import pytest

import energy
import evsim
from energy.rates import measured_rates
from evsim.errors import EvsimError
from evsim.spec import load_spec
from evsim.stats import COUNT_FIELDS

from conftest import write_spec

TINY = """extends: "evsim:spikformer.yaml"
name: tiny-{name}
input: {{shape: [3, 16, 16], T: 3, encoding: direct}}
params: {{D: 32, heads: 2, depth: 3, classes: 10, {options}}}
"""
N = 16   # tokens of the tiny model (16×16 image, two max-pools)


def tiny(tmp_path, name, options):
    return load_spec(write_spec(tmp_path, TINY.format(name=name, options=options), f"{name}.yaml"))


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    plain = tiny(tmp_path_factory.mktemp("plain"), "plain", "halting: 0")
    return plain, evsim.synthetic_weights(plain, seed=0, target_rate=0.2)


def image(seed=5):
    return np.random.default_rng(seed).standard_normal((3, 16, 16))


@pytest.mark.parametrize("options", ["merging: 1, merge_r: 0", "merging: 1, merge_threshold: 1.0",
                                     "merging: 1, merge_r: 0, halting: 1, gamma: 0.0, beta: 1000.0"])
def test_merging_off_is_spikformer_exactly(tmp_path, weights, options):
    plain_spec, params = weights
    plain = evsim.load(plain_spec, params).run(image(), engine="event")
    merging = evsim.load(tiny(tmp_path, "off", options), params).run(image(), engine="event")
    assert np.array_equal(plain.output, merging.output)   # the size-weighted token mean with s ≡ 1 is the mean
    assert plain.spikes.keys() == merging.spikes.keys()
    for name, spikes in plain.spikes.items():
        assert np.array_equal(spikes, merging.spikes[name]), name
    for name, stats in plain.stats.items():
        assert stats.input_values == merging.stats[name].input_values, name
        for field in COUNT_FIELDS:
            assert np.array_equal(stats.counts[field], merging.stats[name].counts[field]), (name, field)
    for b in range(3):
        merge = merging.stats[f"block.{b}.merge"]
        assert merge.counts["tokens"].tolist() == [N] * 3
        assert merge.total("synaptic_events") == merge.total("dense_synaptic_ops") == 0
        assert merging.stats[f"block.{b}.merged"].total("synaptic_events") == 0
    report = (energy.estimate(plain, "horowitz45-fp32", "exact").total_mj,
              energy.estimate(merging, "horowitz45-fp32", "exact").total_mj)
    assert report[0] == report[1]


CONFIGS = {"r": "merging: 1, merge_r: 3", "threshold": "merging: 1, merge_threshold: 0.5",
           "r+halting": "merging: 1, merge_r: 3, halting: 1, gamma: 10.0, beta: 5.0"}


@pytest.mark.parametrize("config", CONFIGS)
def test_dense_and_event_agree_with_merging(tmp_path, weights, config):
    _, params = weights
    net = evsim.load(tiny(tmp_path, "merge", CONFIGS[config]), params)
    dense, event = net.run(image(), engine="dense"), net.run(image(), engine="event")
    assert np.allclose(dense.output, event.output, rtol=1e-12)    # the analog head sums in another order
    for name, spikes in dense.spikes.items():
        assert np.array_equal(spikes, event.spikes[name]), name
    for name, stats in dense.stats.items():
        for field, counts in stats.counts.items():
            assert np.array_equal(counts, event.stats[name].counts[field]), (name, field)
    processed = np.array([event.stats[f"block.{b}.merge"].counts["tokens"] for b in range(3)])   # [block, step]
    assert 0 < processed.sum() < 3 * 3 * N and np.all(np.diff(processed, axis=0) <= 0)   # merged stays merged in a step
    for b in range(3):
        for layer in ("merged", "attn.q_linear", "mlp.fc1_linear", "mlp.fc2_linear"):
            assert np.array_equal(event.stats[f"block.{b}.{layer}"].counts["tokens"], processed[b]), layer
        assert np.array_equal(event.stats[f"block.{b}.mlp.fc1_lif"].counts["neuron_updates"], processed[b] * 128)
        assert np.array_equal(event.stats[f"block.{b}.attn.proj_linear"].counts["bias_adds"], processed[b] * 32)


def test_fixed_r_tokens_measured_and_analytic(tmp_path, weights):
    """Fixed r, no halting: block l processes n_l = n_{l−1} − min(r, ⌈n_{l−1}/2⌉) tokens at
    every step, and analytic energy's expected counts say the same, layer by layer."""
    _, params = weights
    spec = tiny(tmp_path, "r5", "merging: 1, merge_r: 5")
    run = evsim.load(spec, params).run(image(), engine="event")
    n, promised = N, []
    for _ in range(3):
        n -= min(5, math.ceil(n / 2))
        promised.append(n)
    assert promised == [11, 6, 3]
    for b, tokens in enumerate(promised):
        assert run.stats[f"block.{b}.merge"].counts["tokens"].tolist() == [tokens] * 3
    expected = energy.analytic_stats(spec, {"default": 0.2})
    for name, stats in run.stats.items():
        for field in ("tokens", "neuron_updates", "bias_adds"):
            assert expected[name].total(field) == pytest.approx(stats.total(field)), (name, field)
    masked = [n for n in run.stats if n.endswith("_linear") and n.startswith("block.")]
    for name in masked:
        assert expected[name].total("dense_synaptic_ops") == run.stats[name].total("dense_synaptic_ops"), name


@pytest.mark.parametrize("config", ["r", "r+halting", "halting"])
def test_saved_rates_reproduce_a_merging_run(tmp_path, weights, config):
    """Rates measured on a merging (or halting) run, with each gate's active fraction and each
    merge layer's work as detail, give analytic counts equal to the measured ones."""
    from test_rates import assert_reproduced
    _, params = weights
    options = {**CONFIGS, "halting": "halting: 1, gamma: 10.0, beta: 5.0"}[config]
    spec = tiny(tmp_path, "merge", options)
    net = evsim.load(spec, params)
    runs = [net.run(image(seed), engine="event") for seed in (1, 2)]
    assert_reproduced(spec, runs, measured_rates(runs, spec))


# ---- one block's merging against an independent NumPy reference ------------------------------

SMALL = """name: small
input: {{shape: [12, 6], T: 3, encoding: frames, values: integer}}
layers:
  - {{name: merge, kind: token_merge, inputs: [input, input, input], first: true, {option}}}
  - {{name: merged, kind: merged_tokens, inputs: [input, merge]}}
  - {{name: fc, kind: masked_linear, inputs: [merged, merge], out_features: 5}}
  - {{name: lif, kind: masked_lif, inputs: [fc, merge], tau: 2.0, v_threshold: 0.3}}
  - {{name: mean, kind: weighted_mean_tokens, inputs: [merged, merge]}}
"""


def cosine(u, v):
    nu, nv = math.sqrt(float(u @ u)), math.sqrt(float(v @ v))
    if nu == 0 or nv == 0:
        return 1.0 if nu == nv else 0.0
    return min(1.0, max(-1.0, float(u @ v) / (nu * nv)))


def reference_merges(x, r=None, threshold=None) -> dict:
    """ToMe's bipartite soft matching of one step's tokens (all alone, none halted), written
    out pair by pair: {merged token a: its destination b}."""
    a_set, b_set = list(range(0, len(x), 2)), list(range(1, len(x), 2))
    best = {}
    for a in a_set:
        scores = [cosine(x[a], x[b]) for b in b_set]
        j = max(range(len(b_set)), key=lambda i: (scores[i], -i))   # the first maximum
        best[a] = (scores[j], b_set[j])
    if threshold is not None:
        chosen = [a for a in a_set if best[a][0] > threshold]
    else:
        chosen = sorted(a_set, key=lambda a: (-best[a][0], a))[:r]
    return {a: best[a][1] for a in chosen}


def reference_run(x, weight, bias, r=None, threshold=None, tau=2.0, v_th=0.3):
    T, n, d = x.shape
    merged, spikes, v = np.zeros_like(x), np.zeros((T, n, weight.shape[0])), np.zeros((n, weight.shape[0]))
    sizes, steps = np.zeros((T, n)), []
    for t in range(T):
        merges = reference_merges(x[t], r, threshold)
        group = {k: [k] for k in range(n) if k not in merges}
        for a, b in merges.items():
            group[b].append(a)
        for b, members in group.items():
            merged[t, b] = sum(x[t, k] for k in members) / len(members)
            sizes[t, b] = len(members)
            v[b] = sum(v[k] for k in members) / len(members)        # the group's mean membrane
            h = v[b] + ((weight @ merged[t, b] + bias) - v[b]) / tau
            spikes[t, b] = h >= v_th
            v[b] = h * (1 - spikes[t, b])
            for k in members:
                v[k] = v[b]                                          # unmerged at the next step
        steps.append((merges, group))
    return merged, spikes, sizes, steps


@pytest.mark.parametrize("option", ["r: 4", "threshold: 0.6"])
def test_merging_saves_exactly_the_merged_tokens_events(tmp_path, option):
    spec = load_spec(write_spec(tmp_path, SMALL.format(option=option)))
    rng = np.random.default_rng(3)
    x = rng.integers(0, 3, (3, 12, 6)).astype(float) * (rng.random((3, 12, 6)) < 0.5)
    x[:, 2] = x[:, 3]                      # identical tokens (cosine 1) and two silent ones (cosine 1 by convention)
    x[:, 8] = x[:, 9] = 0
    weight, bias = rng.standard_normal((5, 6)), rng.standard_normal(5)
    net = evsim.load(spec, {"fc": {"weight": weight, "bias": bias}})
    run, dense = net.run(x, engine="event"), net.run(x, engine="dense")
    key, value = option.split(": ")
    merged, spikes, sizes, steps = reference_run(x, weight, bias, **{key: float(value) if key == "threshold" else int(value)})
    assert all(len(merges) > 0 for merges, _ in steps)
    assert np.array_equal(run.spikes["lif"], spikes) and np.array_equal(dense.spikes["lif"], spikes)
    assert np.allclose(run.output, (merged * sizes[..., None]).sum(axis=1) / 12, rtol=1e-12)
    assert np.allclose(run.output, x.mean(axis=1), rtol=1e-12)     # merging keeps Σ s·x: the head's mean is unchanged
    for name, stats in dense.stats.items():
        for field in COUNT_FIELDS:
            assert np.array_equal(stats.counts[field], run.stats[name].counts[field]), (name, field)
    nnz = lambda a: np.count_nonzero(a, axis=-1)   # noqa: E731
    fc, merge, average = (run.stats[name].counts for name in ("fc", "merge", "merged"))
    for t, (merges, group) in enumerate(steps):
        gone = list(merges)
        receivers = sorted({b for b in merges.values()})
        saved = nnz(x[t, gone]).sum() - (nnz(merged[t, receivers]) - nnz(x[t, receivers])).sum()
        assert fc["synaptic_events"][t] == (nnz(x[t]).sum() - saved) * 5 == nnz(merged[t]).sum() * 5
        assert fc["tokens"][t] == 12 - len(gone) and fc["bias_adds"][t] == (12 - len(gone)) * 5
        assert fc["dense_synaptic_ops"][t] == (12 - len(gone)) * 6 * 5
        assert run.stats["lif"].counts["neuron_updates"][t] == (12 - len(gone)) * 5
        a_set, b_set = range(0, 12, 2), range(1, 12, 2)
        pairs = [(a, b) for a in a_set for b in b_set] + [(k, k) for k in range(12)]
        assert merge["synaptic_events"][t] == sum(np.count_nonzero(x[t, i] * x[t, j]) for i, j in pairs)
        assert merge["weighted_synaptic_events"][t] == sum(int(x[t, i] @ x[t, j]) for i, j in pairs)
        assert merge["dense_synaptic_ops"][t] == len(pairs) * 6
        members = [k for b in receivers for k in group[b]]
        assert average["synaptic_events"][t] == nnz(x[t, members]).sum() + nnz(merged[t, receivers]).sum()


def test_weighted_token_mean_with_sizes(tmp_path):
    """Σ_n s_n x_n / Σ_n s_n from a token state's sizes, and the plain mean bit for bit at s ≡ 1."""
    from evsim.kinds.mean_tokens import MeanTokens
    from evsim.kinds.weighted_mean_tokens import WeightedMeanTokens
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 7, 3))
    state = np.zeros((2, 7, 4))
    state[..., 0] = 1
    layer = WeightedMeanTokens("mean", ("x", "state"))
    assert np.array_equal(layer.dense({}, [x, state], {}), MeanTokens("m", ("x",)).dense({}, [x], {}))
    state[..., 0] = rng.integers(0, 4, (2, 7))
    state[:, 0, 0] = 1
    expected = np.einsum("snd,sn->sd", x, state[..., 0]) / state[..., 0].sum(axis=1)[:, None]
    assert np.allclose(layer.dense({}, [x, state], {}), expected, rtol=1e-14)


@pytest.mark.parametrize("option,message", [
    ("r: -1", "'r' (merges per block and step) must be an int ≥ 0"),
    ("r: 12", "merges at most 6"),
    ("r: 7", "merges at most 6"),
    ("r: 2.5", "'r' must be an integer"),
    ("threshold: 1.5", "'threshold' is a cosine similarity in [-1, 1]"),
    ("threshold: -2.0", "'threshold' is a cosine similarity in [-1, 1]"),
    ("r: 2, threshold: 0.5", "give 'r' (2) or 'threshold' (0.5), not both"),
])
def test_bad_merge_options_name_the_layer(tmp_path, option, message):
    with pytest.raises(EvsimError) as err:
        load_spec(write_spec(tmp_path, SMALL.format(option=option)))
    assert "layer 'merge'" in str(err.value) and message in str(err.value)


def test_bad_merge_option_in_the_model_names_the_block(tmp_path):
    with pytest.raises(EvsimError, match=r"layer 'block\.0\.merge'.*must be an int ≥ 0"):
        tiny(tmp_path, "bad", "merging: 1, merge_r: -3")
    with pytest.raises(EvsimError, match=r"layer 'block\.0\.merge'.*merges at most 8"):
        tiny(tmp_path, "bad", "merging: 1, merge_r: 16")


@pytest.mark.slow
def test_token_merging_audit_row():
    """The AT-SNN merging row recomputes tokens and energy with halting and merging (r = 8) and
    without either, on the same weights and inputs (Spikformer-4-384, CIFAR-100; about 30 s)."""
    from energy.audit import audit
    from evsim.cli import measure_runs
    row, = audit(reprice=False, measure=measure_runs, ids=["at-snn-token-merging"])
    checks = {c.quantity: c.recomputed for c in row.checks}
    label = "halting and merging"
    plain, reduced = (checks[f"tokens processed by the blocks per inference, {w} {label}"] for w in ("without", "with"))
    n, fixed_r = 64, []                      # merging alone would leave n_l = n_{l−1} − 8 tokens in block l
    for _ in range(4):
        n -= 8
        fixed_r.append(n)
    assert plain == 4 * 4 * 64 and 0 < reduced <= 4 * sum(fixed_r)
    assert checks[f"token reduction by {label}"] == pytest.approx(100 * (1 - reduced / plain))
    assert checks[f"synaptic events per inference, with {label}"] < checks[f"synaptic events per inference, without {label}"]
    assert checks[f"energy with {label}, analog inputs as AC (exact, horowitz45-fp32)"] > 0
