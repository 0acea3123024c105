"""Energy from declared rates against measured runs (issue: analytic must match a measured
run) and closed forms for every expected-count formula and every convention."""
import os

import numpy as np
import pytest

import energy
import evsim
from energy.analytic import describe_provenance, propagate_rates
from energy.rates import load_rates, measured_rates
from evsim import load_spec
from evsim.cli import main
from evsim.stats import Rate

from conftest import MODELS, write_spec

FIELDS = ("input_events", "input_spikes", "synaptic_events", "weighted_synaptic_events", "synaptic_events_nonzero",
          "attention_coincidences", "attention_row_additions", "bias_adds", "neuron_updates", "output_spikes", "dense_macs", "dense_synaptic_ops")
PROFILES = ("horowitz45-fp32", "lemaire-memory-fp32", "loihi")


def shrunk(tmp_path, model, size):
    base = load_spec(MODELS / f"{model}.yaml")
    inp = base.input
    text = (f"extends: {MODELS / model}.yaml\ninput: {{shape: [{inp.shape[0]}, {size}, {size}], T: {inp.T}, "
            f"encoding: {inp.encoding}, values: {inp.values}}}\n")
    return load_spec(write_spec(tmp_path, text, f"{model}-{size}.yaml"))


def assert_reproduced(spec, runs, rates):
    """Analytic stats from measured rates equal the runs' mean counts, layer by layer and field
    by field, and the energy agrees under every convention and profile."""
    expected = energy.analytic_stats(spec, rates)
    assert set(expected) == set(runs[0].stats)
    for name, stats in expected.items():
        # the memory models price weights by the size of the array that holds them: same size as measured
        assert (stats.weights, stats.outputs) == (runs[0].stats[name].weights, runs[0].stats[name].outputs), name
        for field in FIELDS:
            measured = np.mean([r.stats[name].total(field) for r in runs])
            assert stats.total(field) == pytest.approx(measured, rel=1e-9, abs=1e-6), (name, field)
    for convention in energy.CONVENTIONS:
        for profile in PROFILES:
            measured = np.mean([energy.estimate(r, profile, convention).total() for r in runs])
            assert energy.estimate(expected, profile, convention).total() == pytest.approx(measured, rel=1e-9)


FAST = [("spikformer-cifar10-2-384", None, 0.037), ("spikformer-cifar10-2-384", None, 0.15),
        ("spikformer-cifar10-4-256", None, 0.15), ("spikformer-cifar100-4-384", None, 0.037),
        ("spikformer-cifar10-4-384", None, 0.15), ("spikformer-cifar10dvs-2-256", 48, 0.037),
        ("qkformer-cifar10-4-384", 16, 0.15), ("qkformer-cifar10dvs-2-256", 48, 0.037)]
SLOW = [(m, 64, r) for m, r in (("spikformer-imagenet-8-384", 0.15), ("spikformer-imagenet-6-512", 0.037),
                                ("spikformer-imagenet-8-512", 0.15), ("spikformer-imagenet-10-512", 0.037),
                                ("spikformer-imagenet-8-768", 0.15), ("qkformer-imagenet-10-384", 0.15),
                                ("qkformer-imagenet-10-512", 0.037), ("qkformer-imagenet-10-768", 0.15))]


@pytest.mark.parametrize("model,size,rate", FAST + [pytest.param(*case, marks=pytest.mark.slow) for case in SLOW])
def test_saved_rates_reproduce_the_measured_run(tmp_path, model, size, rate):
    spec = shrunk(tmp_path, model, size) if size else load_spec(MODELS / f"{model}.yaml")
    net = evsim.load(spec, evsim.synthetic_weights(spec, seed=1, target_rate=rate))
    runs = [net.run(evsim.sample_input(spec, seed), engine="event") for seed in (1, 2)]
    assert_reproduced(spec, runs, measured_rates(runs, spec))


def test_cli_save_rates_round_trip(tmp_path, capsys):
    rates_file = tmp_path / "measured.yaml"
    args = ["spikformer-cifar10-4-256", "--synthetic-rate", "0.1", "--seed", "3", "--format", "json"]
    assert main(["energy", *args, "--save-rates", str(rates_file), "--convention", "exact"]) == 0
    import json
    measured = json.loads(capsys.readouterr().out)
    assert main(["energy", "spikformer-cifar10-4-256", "--rates", str(rates_file), "--convention", "exact",
                 "--format", "json"]) == 0
    analytic = json.loads(capsys.readouterr().out)
    assert analytic["total_pj"] == pytest.approx(measured["total_pj"], rel=1e-5)  # 6 significant digits in the file
    text = rates_file.read_text()
    assert "spec: spikformer-cifar10-4-256" in text and "inputs: 1" in text
    assert "block.0.attn.ssa: {events:" in text and "coincidences:" in text and "rows:" in text
    declared = load_rates(rates_file)
    assert declared["patch_embed.maxpool3"].events > declared["patch_embed.proj_lif3"].events  # a pool fires more often
    assert "declared at" in analytic["source"]


# -- closed forms ---------------------------------------------------------------------------

ATTENTION = """name: att
input: {shape: [3, 4], T: 1, encoding: frames, values: binary}
layers:
  - {name: q, kind: lif, v_threshold: 0.5}
  - {name: k, kind: lif, v_threshold: 0.5, input: input}
  - {name: v, kind: lif, v_threshold: 0.5, input: input}
  - {name: ssa, kind: attention, inputs: [q, k, v], heads: 2, scale: 1.0, order: ORDER}
"""
ATTENTION_RATES = {"input": 0.5, "q": 0.5, "k": 0.25, "v": 0.75}


@pytest.mark.parametrize("order,expected", [
    # N = 3 tokens, D = 4, 2 heads of d = 2; r_q, r_k, r_v = 1/2, 1/4, 3/4
    # qk_first: pairs N²D = 36; a score is nonzero with p = 1 − (1 − r_q r_k)^d = 1 − (7/8)², has mean
    # r_q r_k d = 1/4, and meets r_v d = 3/2 spikes of its V row
    ("qk_first", {"attention_coincidences": 0.125 * 36, "synaptic_events": (1 - 0.875 ** 2) * 0.75 * 36,
                  "weighted_synaptic_events": 0.125 * 0.75 * 2 * 36, "attention_row_additions": (1 - 0.875 ** 2) * 36,
                  "synaptic_events_nonzero": (1 - 0.875 ** 2) * 0.75 * 36}),
    # kv_first: pairs N·d·D = 24; an entry of KᵀV is nonzero with 1 − (1 − r_k r_v)^N = 1 − (13/16)³
    ("kv_first", {"attention_coincidences": 0.1875 * 24, "synaptic_events": 0.5 * (1 - 0.8125 ** 3) * 24,
                  "weighted_synaptic_events": 0.5 * (1 - 0.8125 ** 3) * 24, "attention_row_additions": 0.5 * 24,
                  "synaptic_events_nonzero": 0.5 * (1 - 0.8125 ** 3) * 24}),
])
def test_attention_expected_counts_by_hand(tmp_path, order, expected):
    spec = load_spec(write_spec(tmp_path, ATTENTION.replace("ORDER", order)))
    stats = energy.analytic_stats(spec, ATTENTION_RATES)["ssa"]
    for field, value in expected.items():
        assert stats.total(field) == pytest.approx(value), field
    dense = 2 * 36 if order == "qk_first" else 2 * 24
    assert stats.total("dense_synaptic_ops") == stats.total("dense_macs") == dense
    assert stats.total("input_events") == pytest.approx((0.5 + 0.25 + 0.75) * 12)


def test_attention_measured_detail_replaces_independence(tmp_path):
    spec = load_spec(write_spec(tmp_path, ATTENTION.replace("ORDER", "qk_first")))
    rates = {**ATTENTION_RATES, "ssa": {"events": 1.0, "coincidences": 0.5, "synaptic": 0.75, "weighted": 1.0,
                                        "rows": 0.25}}
    stats = energy.analytic_stats(spec, rates)["ssa"]
    assert [stats.total(f) for f in ("attention_coincidences", "synaptic_events", "weighted_synaptic_events",
                                     "attention_row_additions")] == [18, 27, 36, 9]   # × 36 pairs
    with pytest.raises(evsim.EvsimError, match="unknown detail.*attention layer takes events, spikes, coincidences"):
        energy.analytic_stats(spec, {**rates, "ssa": {"events": 1.0, "coincidence": 0.5}})


POOL_RESIDUAL = """name: pool
input: {shape: [1, 4, 6], T: 1, encoding: frames, values: binary}
layers:
  - {name: a, kind: lif}
  - {name: pool, kind: maxpool2d, kernel_size: 2}
  - {name: b, kind: lif, input: input}
  - {name: pool_b, kind: maxpool2d, kernel_size: 2}
  - {name: sum, kind: add, inputs: [pool, pool_b]}
  - {name: tokens, kind: tokens}
  - {name: fc, kind: linear, out_features: 5, bias: false}
"""


def test_maxpool_and_residual_propagation_by_hand(tmp_path):
    spec = load_spec(write_spec(tmp_path, POOL_RESIDUAL))
    rates = propagate_rates(spec, {"input": 0.3, "a": 0.5, "b": 0.2})
    assert rates["pool"].events == pytest.approx(1 - 0.5 ** 4)           # a 2×2 window of r = 0.5
    assert rates["pool_b"].events == pytest.approx(1 - 0.8 ** 4)
    e1, e2 = 1 - 0.5 ** 4, 1 - 0.8 ** 4
    assert rates["sum"].events == pytest.approx(1 - (1 - e1) * (1 - e2))  # either input nonzero
    assert rates["sum"].spikes == pytest.approx(e1 + e2)                   # values add
    fc = energy.analytic_stats(spec, {"input": 0.3, "a": 0.5, "b": 0.2})["fc"]
    synapses = 2 * 3 * 1 * 5                                                # 6 tokens of 1 feature, fan-out 5
    assert fc.total("synaptic_events") == pytest.approx(rates["sum"].events * synapses)
    assert fc.total("weighted_synaptic_events") == pytest.approx(rates["sum"].spikes * synapses)
    exact = energy.analytic(spec, {"input": 0.3, "a": 0.5, "b": 0.2}, convention="exact", integer_as="ac")
    as_mac = energy.analytic(spec, {"input": 0.3, "a": 0.5, "b": 0.2}, convention="exact", integer_as="mac")
    row = {r.layer: r for r in exact.rows}["fc"]
    assert row.ac == pytest.approx(rates["sum"].spikes * synapses) and row.mac == 0
    row = {r.layer: r for r in as_mac.rows}["fc"]
    assert row.mac == pytest.approx(rates["sum"].events * synapses) and row.ac == 0


@pytest.mark.parametrize("r", [0.0, 1.0])
def test_rates_of_exactly_zero_and_one(tmp_path, r):
    spec = load_spec(write_spec(tmp_path, POOL_RESIDUAL))
    stats = energy.analytic_stats(spec, {"input": r, "default": r})
    assert stats["fc"].total("synaptic_events") == r * stats["fc"].total("dense_synaptic_ops")
    assert stats["fc"].total("weighted_synaptic_events") == 2 * r * stats["fc"].total("dense_synaptic_ops")
    assert stats["a"].total("output_spikes") == r * 24
    paper = energy.analytic(spec, {"input": r, "default": r}, convention="paper")
    assert paper.total("ac") == pytest.approx(2 * r * 30)   # fc: rate (spikes: two inputs of r) × dense MACs


BIAS = """name: bias
input: {shape: [3], T: 2, encoding: frames, values: binary}
layers:
  - {name: fc, kind: linear, out_features: 2, bias: true}
  - {name: lif, kind: lif}
"""


def test_bias_additions_in_every_convention(tmp_path):
    spec = load_spec(write_spec(tmp_path, BIAS))
    net = evsim.load(spec, {"fc": {"weight": np.array([[1.0, 0.0, 2.0], [0.0, 0.0, 1.0]]), "bias": np.ones(2)}})
    run = net.run(np.array([[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]]), engine="event")
    # 3 input events × fan-out 2 = 6 synaptic events; through nonzero weights: input 0 → [1, 0], 1 → [0, 0], 2 → [2, 1]
    fc = {c: energy.estimate(run, convention=c).rows[0] for c in energy.CONVENTIONS}
    bias = 2 * 2   # 2 outputs × 2 steps
    assert fc["paper"].ac == pytest.approx(2 / 3 * 6 + 1 / 3 * 6)   # Σ_t rate_t × 6 dense MACs; bias not counted by default
    assert fc["exact"].ac == 6 + bias
    assert fc["effective"].ac == 3 + bias                      # nonzero weights only: 1 + 0 + 2
    assert fc["dense"].ac == 12 + bias                         # 3 inputs × 2 outputs × 2 steps
    assert energy.estimate(run, convention="exact", count_bias=False).rows[0].ac == 6
    assert energy.estimate(run, convention="paper", count_bias=True).rows[0].ac == pytest.approx(6 + bias)


# -- asymmetric inputs ----------------------------------------------------------------------

def test_maxpool_on_non_square_and_analog_inputs(tmp_path):
    import reference
    text = """name: pools
input: {shape: [2, 5, 7], T: 2, encoding: frames, values: VALUES}
layers:
  - {name: pool, kind: maxpool2d, kernel_size: [2, 3], stride: [1, 2], padding: [1, 1]}
"""
    rng = np.random.default_rng(0)
    for values, frames in (("integer", rng.integers(0, 3, (2, 2, 5, 7)).astype(float)),
                           ("analog", rng.standard_normal((2, 2, 5, 7)))):
        spec = load_spec(write_spec(tmp_path, text.replace("VALUES", values)))
        net = evsim.load(spec, {})
        dense, event = net.run(frames, engine="dense"), net.run(frames, engine="event")
        truth = np.stack([reference.maxpool(f, (2, 3), (1, 2), (1, 1)) for f in frames])
        assert np.array_equal(dense.output, truth) and np.array_equal(event.output, truth), values


def test_grouped_conv_with_zero_weights_counts_nonzero_per_group(tmp_path):
    text = """name: grouped
input: {shape: [4, 3, 5], T: 1, encoding: frames, values: binary}
layers:
  - {name: conv, kind: conv2d, out_channels: 6, kernel_size: [1, 2], groups: 2}
"""
    spec = load_spec(write_spec(tmp_path, text))
    weight = np.ones((6, 2, 1, 2))
    weight[0:3, 0, 0, 0] = 0.0     # group 0, input channel 0, tap (0, 0): zero for all 3 outputs of the group
    weight[4, 1, 0, 1] = 0.0       # group 1, input channel 3, tap (0, 1): zero for one output
    net = evsim.load(spec, {"conv": {"weight": weight}})
    frames = np.zeros((1, 4, 3, 5))
    frames[0, 0, 1, 2] = frames[0, 3, 2, 4] = 1.0
    run = net.run(frames, engine="event")
    stats = run.stats["conv"]
    # channel 0 at x = 2 is read by tap 0 (output x = 2) and tap 1 (output x = 1): 2 taps × 3 outputs
    # channel 3 at x = 4 (the last column) is read by tap 1 only (output x = 3): 1 tap × 3 outputs
    assert stats.total("synaptic_events") == 6 + 3
    assert stats.total("synaptic_events_nonzero") == (6 - 3) + (3 - 1)
    dense = net.run(frames, engine="dense").stats["conv"]
    assert dense.total("synaptic_events_nonzero") == stats.total("synaptic_events_nonzero")


def test_lif_without_input_decay_matches_spikingjelly_bit_for_bit():
    if os.environ.get("MUTANT_UNDER_TEST"):   # mutmut forks its workers from a process that ran torch
        pytest.skip("torch is not fork-safe under mutmut's forked workers (runs in the normal suite)")
    torch = pytest.importorskip("torch")
    neuron = pytest.importorskip("spikingjelly.clock_driven.neuron")
    from evsim.neurons import lif
    rng = np.random.default_rng(4)
    x = rng.uniform(-1, 3, (12, 64))
    for v_reset in (0.0, -0.3):
        node = neuron.MultiStepLIFNode(tau=3.0, decay_input=False, v_reset=v_reset, detach_reset=True).double()
        with torch.no_grad():
            theirs = node(torch.from_numpy(x)).numpy()
        ours, _ = evsim.neurons.run(lif, x, lif.Parameters(3.0, 1.0, v_reset, False))
        assert np.array_equal(ours, theirs) and 0 < ours.mean() < 1


def test_attention_second_product_is_counted_event_by_event(tmp_path):
    """qk_first: a nonzero score S[n, m] adds into y[n] only where V[m] has spikes; kv_first:
    a q spike adds only the nonzero entries of its row of KᵀV. By hand on 3 tokens, 1 head of d = 3."""
    text = """name: att
input: {shape: [3, 3], T: 1, encoding: frames, values: binary}
layers:
  - {name: q, kind: lif, v_threshold: 0.5}
  - {name: k, kind: lif, v_threshold: 0.5}
  - {name: v, kind: lif, v_threshold: 0.5}
  - {name: ssa, kind: attention, inputs: [q, k, v], heads: 1, scale: 1.0, order: ORDER}
"""
    q = np.array([[1, 1, 0], [0, 0, 1], [0, 0, 0]])
    k = np.array([[1, 0, 0], [1, 1, 0], [0, 0, 0]])
    v = np.array([[1, 0, 0], [0, 0, 0], [1, 1, 1]])
    # S = Q Kᵀ = [[1, 2, 0], [0, 0, 0], [0, 0, 0]]; nnz(V rows) = [1, 0, 3]
    # qk_first: coincidences Σ_j nnz(Q[:, j]) nnz(K[:, j]) = 1·2 + 1·1 + 1·0 = 3; additions S≠0: (0,0) → 1, (0,1) → 0
    #           weighted 1·1 + 2·0 = 1; rows dense 2 × 3 = 6
    # kv_first: M = KᵀV = [[1,0,0],[0,0,0],[0,0,0]] (token 0: k {0} × v {0}; token 1: k {0,1} × v {} ; token 2: none)
    #           coincidences Σ_n nnz(K[n]) nnz(V[n]) = 1 + 0 + 0 = 1; q spikes (0,0) → nnz(M[0]) = 1, (0,1) → 0, (1,2) → 0
    expected = {"qk_first": (3, 1, 1, 6), "kv_first": (1, 1, 1, 9)}
    for order, (coincidences, additions, weighted, rows) in expected.items():
        spec = load_spec(write_spec(tmp_path, text.replace("ORDER", order)))
        layer = spec.layers["ssa"]
        stats = evsim.stats.LayerStats.for_layer(spec.facts("ssa"), "attention", 0)
        inputs = [a[None].astype(float) for a in (q, k, v)]
        out = layer.event(layer.prepare({}, np.float64, spec.facts("ssa"), "event"), inputs, {}, stats.counts, slice(0, 1))
        assert np.array_equal(out[0], (q @ k.T) @ v if order == "qk_first" else q @ (k.T @ v))
        assert [stats.total(f) for f in ("attention_coincidences", "synaptic_events", "weighted_synaptic_events",
                                         "attention_row_additions")] == [coincidences, additions, weighted, rows], order
        brute = evsim.stats.LayerStats.for_layer(spec.facts("ssa"), "attention", 0)
        layer.count({}, inputs, out, spec.facts("ssa"), brute.counts)
        for field, values in stats.counts.items():
            assert np.array_equal(values, brute.counts[field]), (order, field)


# -- what every analytic report says about its rates, and rates-file errors ------------------

PROVENANCE = """name: prov
input: {shape: [1, 4, 6], T: 1, encoding: frames, values: binary}
layers:
  - {name: a, kind: lif}
  - {name: pool, kind: maxpool2d, kernel_size: [2, 1], stride: 2}
  - {name: b, kind: lif, input: input, firing_rate: 0.4}
  - {name: pool_b, kind: maxpool2d, kernel_size: 2}
  - {name: c, kind: lif, input: input}
  - {name: sum, kind: add, inputs: [pool, pool_b]}
"""


def test_propagation_and_its_description_name_every_source(tmp_path):
    spec = load_spec(write_spec(tmp_path, PROVENANCE))
    provenance = {}
    rates = propagate_rates(spec, {"default": 0.1, "input": 0.3, "a": 0.5}, provenance)
    assert provenance == {"a": "declared", "b": "spec", "c": "default",
                          "pool": "maxpool2d: " + spec.layers["pool"].rate_rule,
                          "pool_b": "maxpool2d: " + spec.layers["pool_b"].rate_rule,
                          "sum": "add: " + spec.layers["sum"].rate_rule}
    assert rates["c"] == Rate(0.1, 0.1) and rates["b"] == Rate(0.4, 0.4)
    assert rates["pool"].events == pytest.approx(1 - 0.5 ** 2)     # a 2×1 window: two inputs, not one or four
    text = describe_provenance(provenance, "r.yaml")
    pool_rule, add_rule = spec.layers["pool"].rate_rule, spec.layers["sum"].rate_rule
    assert text == (f"rates declared at 1 layer(s) (r.yaml); spec at 1 layer(s); default at 1 layer(s); "
                    f"propagated at 2 maxpool2d ({pool_rule}); propagated at 1 add ({add_rule})")
    assert describe_provenance({"x": "declared", "y": "declared"}, None) == "rates declared at 2 layer(s)"


def test_an_analytic_report_names_its_spec_and_its_rates(tmp_path):
    spec_path = write_spec(tmp_path, PROVENANCE)
    rates_path = tmp_path / "r.yaml"
    rates_path.write_text("spec: prov\ninputs: 3\ndefault: 0.1\nlayers:\n  input: 0.3\n  a: 0.5\n")
    reports = [energy.analytic(str(spec_path), str(rates_path)), energy.analytic(load_spec(spec_path), rates_path)]
    for report in reports:
        assert report.spec_name == "prov"
        assert report.source.startswith(f"analytic, rates declared at 1 layer(s) ({rates_path}); spec at 1 layer(s); "
                                        "default at 1 layer(s); propagated at 2 maxpool2d")
    as_dict = energy.analytic(spec_path, {"default": 0.1, "input": 0.3, "a": 0.5})
    assert as_dict.source.startswith("analytic, rates declared at 1 layer(s); spec at 1 layer(s)")
    assert as_dict.total() == pytest.approx(reports[0].total())
    with pytest.raises(evsim.EvsimError, match="rates must be a dict .* got list"):
        energy.analytic(spec_path, [0.1])


def test_rates_naming_no_layer_or_an_unknown_detail_are_located(tmp_path):
    spec = load_spec(write_spec(tmp_path, PROVENANCE))
    for declared in ({"default": 0.1, "input": 0.3, "nope": 0.2}, {"__file__": "r.yaml", "nope": 0.2}):
        with pytest.raises(evsim.EvsimError) as err:
            propagate_rates(spec, declared)
        assert err.value.bare_message == "rate given for 'nope', which is not a layer of prov"
        assert err.value.fix == "use layer names from 'evsim info SPEC'"
        assert err.value.file == declared.get("__file__", spec.path)
    with pytest.raises(evsim.EvsimError) as err:
        propagate_rates(spec, {"default": 0.1, "input": {"events": 0.3, "spikes": 0.3, "scatters": 0.1}})
    assert err.value.fix == "the network input takes events, spikes"
    with pytest.raises(evsim.EvsimError) as err:
        propagate_rates(spec, {"default": 0.1, "input": 0.3, "a": {"events": 0.3, "spikes": 0.3, "scatters": 0.1}})
    assert err.value.fix == "a lif layer takes events, spikes"
    with pytest.raises(evsim.EvsimError, match="'x' .*in \\[0, 1\\]") as err:
        propagate_rates(spec, {"x": 1.5, "__file__": "r.yaml"})
    assert err.value.file == "r.yaml"


@pytest.mark.parametrize("text,message,line", [
    ("default: 1.5\n", "'default' must be a rate in [0, 1], got 1.5", 1),
    ("layers: {a: 0.1}\ndefault: -0.1\n", "'default' must be a rate in [0, 1], got -0.1", 2),
    ("default: true\n", "'default' must be a rate in [0, 1], got True", 1),
    ("default: .nan\n", "'default' must be a rate in [0, 1], got nan", 1),
    ("default: .inf\n", "'default' must be a rate in [0, 1], got inf", 1),
    ("layers:\n  a: 0.1\n  b: 2\n", "rate of 'b' must be a number in [0, 1]", 3),
    ("default: 0.1\nlayers: [1, 2]\n", "'layers' must map layer names to rates", 2),
    ("[1, 2]\n", "a rates file must be a mapping", None),
    ("default: [0.1\n", "malformed YAML", 2),
])
def test_rates_file_errors_name_the_file_line_and_value(tmp_path, text, message, line):
    path = tmp_path / "r.yaml"
    path.write_text(text)
    with pytest.raises(evsim.EvsimError) as err:
        load_rates(path)
    assert err.value.bare_message.startswith(message) and err.value.file == str(path)
    if line is not None:
        assert err.value.line == line
    fixes = {"a rates file must be a mapping": "write 'default: 0.15' and/or 'layers: {name: rate}'",
             "malformed YAML": "fix the YAML syntax (indentation, colons, brackets)"}
    if message in fixes:
        assert err.value.fix == fixes[message]


def test_rates_file_edges_and_flat_form(tmp_path):
    path = tmp_path / "r.yaml"
    with pytest.raises(evsim.EvsimError, match="no such rates file"):
        load_rates(path)
    for value in (0, 1, 0.0, 1.0):
        path.write_text(f"default: {value}\n")
        assert load_rates(path)["default"] == Rate(float(value), float(value))
    path.write_text("spec: x\ninputs: 4\nengine: event\nsource: run\ndescription: d\ndefault: 0.2\na: 0.1\n")
    rates = load_rates(path)   # without 'layers:' every key but the metadata and the default is a layer
    assert set(rates) == {"a", "default", "__file__"} and rates["a"] == Rate(0.1, 0.1)


def test_a_sum_of_sparse_analog_inputs_keeps_their_event_rate(tmp_path):
    """An analog residual sum of two layers declared sparse: events 1 − Π(1 − e_i), and its
    values are analog, so spikes = events (no integer counting)."""
    text = """name: analog_sum
input: {shape: [4, 3], T: 1, encoding: frames, values: binary}
layers:
  - {name: fc1, kind: linear, out_features: 3, bias: false}
  - {name: fc2, kind: linear, out_features: 3, bias: false, input: input}
  - {name: sum, kind: add, inputs: [fc1, fc2]}
"""
    spec = load_spec(write_spec(tmp_path, text))
    rates = propagate_rates(spec, {"input": 0.5, "fc1": 0.2, "fc2": 0.3})
    assert rates["sum"] == Rate(pytest.approx(1 - 0.8 * 0.7), pytest.approx(1 - 0.8 * 0.7))
    assert propagate_rates(spec, {"input": 0.5})["sum"] == Rate(1.0, 1.0)   # undeclared analog: all nonzero


def test_event_frames_take_the_default_rate_when_the_input_has_none(tmp_path):
    spec = load_spec(write_spec(tmp_path, POOL_RESIDUAL))
    assert propagate_rates(spec, {"default": 0.2})["input"] == Rate(0.2, 0.2)
    with pytest.raises(evsim.EvsimError) as err:
        propagate_rates(spec, {"a": 0.2, "b": 0.1, "__file__": "r.yaml"})
    assert (err.value.bare_message, err.value.fix, err.value.file) == (
        "event-frame input needs a declared rate", "add 'input: r' to the rates", "r.yaml")
    with pytest.raises(evsim.EvsimError) as err:
        propagate_rates(spec, {"input": 0.2, "a": 0.1})
    assert err.value.bare_message == "no firing rate declared for spiking layer 'b'"
    assert err.value.fix == "declare 'firing_rate:' in the spec, or a rate or a 'default' in the rates file"


def test_a_cycle_takes_its_delayed_inputs_rate_on_the_second_pass(tmp_path):
    text = """name: cycle
input: {shape: [4], T: 3, encoding: frames, values: binary}
layers:
  - {name: fc_in, kind: linear, out_features: 4, bias: false}
  - {name: sum, kind: add, inputs: [fc_in, {from: w_rec, delay: 1}]}
  - {name: lif, kind: lif}
  - {name: w_rec, kind: linear, out_features: 4, bias: false}
"""
    spec = load_spec(write_spec(tmp_path, text))
    rates = propagate_rates(spec, {"input": 0.5, "default": 0.1, "fc_in": 0.2, "w_rec": 0.3})
    assert rates["sum"].events == pytest.approx(1 - 0.8 * 0.7)


def test_a_masked_layer_scales_a_default_rate_by_its_active_tokens_not_a_declared_one(tmp_path):
    from test_halting import TINY
    spec = load_spec(write_spec(tmp_path, TINY.format(name="halting", halting=1, gamma=10, beta=5)))
    masked = next(n for n, layer in spec.layers.items() if layer.kind == "masked_lif")
    gate = next(n for n, layer in spec.layers.items() if layer.kind == "halting")
    active = {"events": 1.0, "spikes": 1.0, "active": 0.5}
    rates = propagate_rates(spec, {"default": 0.2, gate: active})
    first = next(n for n in spec.layers if spec.layers[n].kind == "masked_lif" and gate in spec.layers[n].inputs)
    assert rates[first].events == pytest.approx(0.2 * 0.5) and rates[first].spikes == pytest.approx(0.2 * 0.5)
    assert propagate_rates(spec, {"default": 0.2, gate: active, first: 0.2})[first] == Rate(0.2, 0.2)
    assert masked


def test_describe_groups_kinds_under_one_rule():
    rule = "analog: every value nonzero"
    text = describe_provenance({"a": f"linear: {rule}", "b": f"conv2d: {rule}", "c": f"linear: {rule}"}, None)
    assert text == f"rates propagated at 2 linear, 1 conv2d ({rule})"


def test_analytic_stats_cover_the_measured_layers_with_their_kinds_and_weights(tmp_path):
    text = """name: folded
input: {shape: [2, 4, 4], T: 2, encoding: frames, values: binary}
layers:
  - {name: conv_a, kind: conv2d, out_channels: 3, kernel_size: 3, padding: 1}
  - {name: bn_a, kind: batchnorm}
  - {name: lif_a, kind: lif}
  - {name: conv_b, kind: conv2d, out_channels: 3, kernel_size: 1, bias: true}
  - {name: bn_b, kind: batchnorm}
  - {name: lif_b, kind: lif}
  - {name: mean, kind: mean_time}
  - {name: flat, kind: flatten}
  - {name: head, kind: linear, out_features: 2}
"""
    spec = load_spec(write_spec(tmp_path, text))
    net = evsim.load(spec, evsim.synthetic_weights(spec, seed=0, target_rate=0.3))
    run = net.run(evsim.sample_input(spec, 0, 0.3), engine="event")
    stats = energy.analytic_stats(spec, {"input": 0.3, "default": 0.3})
    assert list(stats) == list(run.stats)                     # no folded normalisation, no mean over time
    for name, expected in stats.items():
        measured = run.stats[name]
        assert (expected.kind, expected.weights, expected.input_values) == (measured.kind, measured.weights,
                                                                          measured.input_values), name
        assert expected.counts["synaptic_events"].dtype == np.float64
    assert stats["conv_a"].weights == 3 * 2 * 9 + 3 and stats["conv_b"].weights == 3 * 3 + 3   # BN shift = bias
    measured_total, expected_total = run.stats["head"].total("synaptic_events"), stats["head"].total("synaptic_events")
    assert type(measured_total) is int and type(expected_total) is float   # counts: int; expectations: float


def test_expected_nonzero_events_and_bias_additions_by_hand(tmp_path):
    spec = load_spec(write_spec(tmp_path, BIAS))
    detail = {"synaptic": 0.5, "weighted": 0.5, "nonzero": 0.25}
    stats = energy.analytic_stats(spec, {"input": 0.5, "default": 0.1, "fc": {"events": 1.0, "spikes": 1.0, **detail}})["fc"]
    synapses = 3 * 2 * 2   # 3 inputs × 2 outputs × 2 steps
    assert stats.total("synaptic_events_nonzero") == 0.25 * synapses and stats.total("synaptic_events") == 0.5 * synapses
    assert stats.total("bias_adds") == 2 * 2


def test_attention_expects_its_tokens_and_dense_work(tmp_path):
    text = ATTENTION.replace("ORDER", "kv_first") if "ORDER" in ATTENTION else ATTENTION
    spec = load_spec(write_spec(tmp_path, text))
    stats = energy.analytic_stats(spec, {"input": 0.5, "default": 0.5})
    name = next(n for n, layer in spec.layers.items() if layer.kind == "attention")
    n, width = spec.in_shapes(name)[0]
    assert stats[name].counts["tokens"].tolist() == [n] * spec.steps(name)
    assert stats[name].total("dense_synaptic_ops") == spec.layers[name].synapses(spec.in_shapes(name), None) * spec.steps(name)
