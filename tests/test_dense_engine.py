"""The dense engine against a plain loop implementation of the equations (tests/reference.py)
on small random networks that use every layer kind, both attention orders, both resets."""
import numpy as np
import pytest

import evsim
from evsim import InputError, load_spec

import reference
from conftest import perturbed_weights, write_spec


@pytest.mark.parametrize("order", ["qk_first", "kv_first"])
@pytest.mark.parametrize("seed,rate", [(0, 0.15), (1, 0.3)])
def test_dense_engine_matches_loop_reference(tmp_path, every_kind_path, order, seed, rate):
    text = every_kind_path.read_text().replace("order: qk_first", f"order: {order}")
    spec = load_spec(write_spec(tmp_path, text))
    params = perturbed_weights(spec, seed, rate)
    image = np.random.default_rng(seed).standard_normal(spec.input.shape)
    ref_out, ref_spikes = reference.run(spec, params, image)  # unfolded BN, loops
    run = evsim.load(spec, params).run(image, engine="dense")
    assert set(run.spikes) == set(ref_spikes)
    for name, spikes in ref_spikes.items():
        assert np.array_equal(run.spikes[name], spikes), name
        assert 0 < spikes.mean() < 1, f"{name} should fire sometimes, not always"
    assert np.allclose(run.output, ref_out[0], rtol=1e-10, atol=1e-12)


def test_frames_input_and_input_errors(tmp_path):
    spec = load_spec(write_spec(tmp_path, """name: f
input: {shape: [2, 6, 6], T: 3, encoding: frames, values: integer}
layers:
  - {name: conv, kind: conv2d, out_channels: 3, kernel_size: 3, padding: 1}
  - {name: lif, kind: lif}
"""))
    params = evsim.synthetic_weights(spec, seed=0, target_rate=0.2)
    frames = (np.random.default_rng(0).random((3, 2, 6, 6)) < 0.3) * 2.0
    ref_out, ref_spikes = reference.run(spec, params, frames)
    run = evsim.load(spec, params).run(frames)
    assert np.array_equal(run.spikes["lif"], ref_spikes["lif"])
    net = evsim.load(spec, params)
    with pytest.raises(InputError, match=r"expects \[3, 2, 6, 6\]"):
        net.run(frames[0])
    with pytest.raises(InputError, match="NaN"):
        net.run(np.full((3, 2, 6, 6), np.nan))
    with pytest.raises(InputError, match="not numeric"):
        net.run(np.full((3, 2, 6, 6), "a"))


def test_a_recurrent_spec_counts_each_step_at_its_own_index(tmp_path):
    """Step-major layers get one step at a time (steps = t … t+1): their counts land at index t,
    equal to the dense engine's brute force, with spikes identical."""
    text = """
input: {shape: [5], T: 6, encoding: frames}
layers:
  - {name: fc_in, kind: linear, out_features: 7, bias: false}
  - {name: sum, kind: add, inputs: [fc_in, {from: w_rec, delay: 1}]}
  - {name: lif, kind: lif, v_threshold: 0.5}
  - {name: w_rec, kind: linear, out_features: 7, bias: false}
"""
    spec = load_spec(write_spec(tmp_path, text))
    rng = np.random.default_rng(2)
    net = evsim.load(spec, {"fc_in": {"weight": rng.standard_normal((7, 5))}, "w_rec": {"weight": rng.standard_normal((7, 7))}})
    x = (rng.random((6, 5)) < 0.5).astype(float)
    dense, event = net.run(x, engine="dense"), net.run(x, engine="event")
    assert np.array_equal(dense.spikes["lif"], event.spikes["lif"]) and 0 < dense.spikes["lif"].mean() < 1
    for name, stats in dense.stats.items():
        for field, counts in stats.counts.items():
            assert np.array_equal(counts, event.stats[name].counts[field]), (name, field)
    # w_rec sees the lif spikes of its own step: 7 outputs per spike
    assert event.stats["w_rec"].counts["synaptic_events"].tolist() == (7 * dense.spikes["lif"].sum(axis=1)).tolist()


def test_maxpool_with_more_steps_than_channels(tmp_path):
    text = """
input: {shape: [2, 4, 6], T: 3, encoding: frames, values: binary}
layers:
  - {name: pool, kind: maxpool2d, kernel_size: [2, 3], stride: [2, 3]}
"""
    spec = load_spec(write_spec(tmp_path, text))
    x = (np.random.default_rng(1).random((3, 2, 4, 6)) < 0.3).astype(float)
    event = evsim.load(spec, {}).run(x, engine="event")
    expected = x.reshape(3, 2, 2, 2, 2, 3).max(axis=(3, 5))
    assert np.array_equal(event.output, expected) and event.output.dtype == np.float64


def test_brute_force_counts_of_integer_inputs_and_biases(tmp_path):
    """The dense engine's own counts (each kind's ``count`` on dense tensors) by hand: integer
    inputs weight events by their values, a bias adds once per output per step."""
    text = """
input: {shape: [4], T: 2, encoding: frames, values: integer}
layers:
  - {name: fc, kind: linear, out_features: 3, bias: true}
"""
    spec = load_spec(write_spec(tmp_path, text))
    weight = np.array([[1.0, 0, 2, 0], [0, 0, 1, 0], [1, 1, 1, 1]])
    net = evsim.load(spec, {"fc": {"weight": weight, "bias": np.ones(3)}})
    x = np.array([[2.0, 0, 1, 0], [0, 3, 0, 0]])
    counts = net.run(x, engine="dense").stats["fc"].counts
    assert counts["synaptic_events"].tolist() == [6, 3]              # events × fan-out 3
    assert counts["weighted_synaptic_events"].tolist() == [9, 9]     # values × fan-out: (2 + 1) × 3, 3 × 3
    assert counts["synaptic_events_nonzero"].tolist() == [5, 1]      # input 0 → 2 nonzero weights, 2 → 3; 1 → 1
    assert counts["bias_adds"].tolist() == [3, 3]
    event = net.run(x, engine="event").stats["fc"].counts
    assert all(np.array_equal(counts[f], event[f]) for f in counts)


def test_attention_brute_force_counts_per_step(tmp_path):
    text = """
input: {shape: [3, 3], T: 2, encoding: frames, values: binary}
layers:
  - {name: q, kind: lif, v_threshold: 0.5}
  - {name: k, kind: lif, v_threshold: 0.5, input: input}
  - {name: v, kind: lif, v_threshold: 0.5, input: input}
  - {name: ssa, kind: attention, inputs: [q, k, v], heads: 1, scale: 1.0}
"""
    spec = load_spec(write_spec(tmp_path, text))
    x = np.array([[[1, 1, 0], [0, 0, 1], [1, 0, 0]], [[0, 0, 0], [0, 1, 0], [0, 0, 0]]], dtype=float)
    net = evsim.load(spec, {})
    dense, event = net.run(x, engine="dense").stats["ssa"], net.run(x, engine="event").stats["ssa"]
    # q = k = v = the spikes of x at each step (LIF charge x/2 ≥ 0.5 fires at once, then resets)
    assert dense.counts["weighted_synaptic_events"][1] == 1 and dense.counts["weighted_synaptic_events"][0] > 1
    for field, counts in dense.counts.items():
        assert np.array_equal(counts, event.counts[field]), field


@pytest.mark.parametrize("text,message", [
    ("  - {name: a, kind: lif}\n  - {name: b, kind: flatten, input: input}\n  - {name: s, kind: add, inputs: [a, b]}\n",
     "all inputs must have one shape, got [[3, 3], [9]]"),
    ("  - {name: a, kind: lif}\n  - {name: b, kind: linear, out_features: 2, input: a}\n"
     "  - {name: s, kind: attention, inputs: [a, a, b], heads: 1}\n", "q, k and v must have one shape, got [[3, 3], [3, 3], [3, 2]]"),
    ("  - {name: a, kind: lif}\n  - {name: s, kind: attention, inputs: [a, a, a], heads: 1, order: vk_first}\n",
     "'order' must be qk_first or kv_first, got 'vk_first'"),
])
def test_shape_and_option_errors_say_what_they_got(tmp_path, text, message):
    head = "input: {shape: [3, 3], T: 1, encoding: frames, values: binary}\nlayers:\n"
    with pytest.raises(evsim.EvsimError) as err:
        load_spec(write_spec(tmp_path, head + text))
    assert message in str(err.value)


def test_maxpool_keeps_the_run_dtype(tmp_path):
    text = """
input: {shape: [1, 4, 4], T: 1, encoding: frames, values: binary}
layers:
  - {name: pool, kind: maxpool2d, kernel_size: 2}
"""
    spec = load_spec(write_spec(tmp_path, text))
    x = (np.random.default_rng(0).random((1, 1, 4, 4)) < 0.5).astype(float)
    for engine in ("dense", "event"):
        assert evsim.load(spec, {}).run(x, engine=engine, dtype=np.float32).output.dtype == np.float32


ATTENTION_T2 = """
input: {shape: [3, 4], T: 2, encoding: frames, values: binary}
layers:
  - {name: q, kind: lif, v_threshold: 0.5}
  - {name: k, kind: lif, v_threshold: 0.5, input: input}
  - {name: v, kind: lif, v_threshold: 0.5, input: input}
  - {name: ssa, kind: attention, inputs: [q, k, v], heads: 2, scale: 0.5, order: ORDER}
"""


@pytest.mark.parametrize("order", ["qk_first", "kv_first"])
def test_attention_per_step_both_orders_float32_and_a_scale(tmp_path, order):
    """T = 2 with different activity per step (counts per step, not totals), scale 0.5, float32
    outputs kept float32; event = dense spike for spike and count for count; a kind's event step
    called on steps 1…2 alone records at index 1."""
    spec = load_spec(write_spec(tmp_path, ATTENTION_T2.replace("ORDER", order)))
    x = np.array([[[1, 1, 0, 1], [0, 0, 1, 1], [1, 0, 0, 0]], [[0, 0, 0, 0], [0, 1, 1, 0], [0, 0, 0, 1]]], dtype=float)
    net = evsim.load(spec, {})
    for dtype in (np.float64, np.float32):
        dense, event = net.run(x, engine="dense", dtype=dtype), net.run(x, engine="event", dtype=dtype)
        assert dense.output.dtype == event.output.dtype == dtype
        assert np.array_equal(dense.output, event.output)
        for field, counts in dense.stats["ssa"].counts.items():
            assert np.array_equal(counts, event.stats["ssa"].counts[field]), field
    counts = dense.stats["ssa"].counts
    assert counts["synaptic_events"][0] != counts["synaptic_events"][1]
    assert counts["attention_coincidences"][0] != counts["attention_coincidences"][1]
    # y = 0.5 · (Q Kᵀ) V per head of 2 features, by hand from the spikes (q = k = v = x here)
    q = x.reshape(2, 3, 2, 2).transpose(0, 2, 1, 3)
    expected = 0.5 * np.einsum("shnm,shmd->shnd", np.einsum("shnd,shmd->shnm", q, q), q)
    assert np.array_equal(dense.output, expected.transpose(0, 2, 1, 3).reshape(2, 3, 4).astype(np.float32))
    layer, plan = spec.layers["ssa"], net.plan("event", np.float64)
    from evsim.stats import LayerStats
    later = LayerStats.for_layer(plan.facts["ssa"], "attention", 0).counts
    spikes = [s.astype(np.float64)[1:] for s in (dense.spikes["q"], dense.spikes["k"], dense.spikes["v"])]
    layer.event(plan.layers["ssa"], spikes, {}, later, slice(1, 2))
    assert later["synaptic_events"].tolist() == [0, counts["synaptic_events"][1]]


def test_attention_closed_forms_for_sizes_and_work():
    from evsim.kinds.attention import Attention
    for order, inner in (("qk_first", 5 * 5), ("kv_first", 3 * 3)):
        layer = Attention(name="a", inputs=["q", "k", "v"], heads=2, order=order)
        shapes = [(5, 6)] * 3
        assert layer.ann_macs(shapes, (5, 6)) == 2 * 5 * 5 * 6
        assert layer.dense_ops(shapes, (5, 6)) == (2 * 5 * 5 * 6 if order == "qk_first" else 2 * 5 * 3 * 6)
        assert layer.synapses(shapes, (5, 6)) == layer.dense_ops(shapes, (5, 6))
        assert layer.workspace_elements(shapes, (5, 6), 4, "dense") == 4 * 2 * inner * 2 + 4 * 5 * 6
        assert layer.workspace_elements(shapes, (5, 6), 4, "event") == 4 * 5 * 6


@pytest.mark.parametrize("option,message", [("heads: 0", "'heads' must be a positive int, got 0"),
                                            ("heads: 2.5", "'heads' must be an integer, got 2.5"),
                                            ("heads: 3", "4 features are not divisible into 3 heads")])
def test_attention_heads_must_divide_the_width(tmp_path, option, message):
    text = "input: {shape: [3, 4], T: 1, encoding: frames, values: binary}\nlayers:\n  - {name: a, kind: lif}\n" \
           f"  - {{name: s, kind: attention, inputs: [a, a, a], {option}}}\n"
    with pytest.raises(evsim.EvsimError, match=message):
        load_spec(write_spec(tmp_path, text))


def test_attention_needs_tokens(tmp_path):
    text = "input: {shape: [12], T: 1, encoding: frames, values: binary}\nlayers:\n  - {name: a, kind: lif}\n" \
           "  - {name: s, kind: attention, inputs: [a, a, a], heads: 1}\n"
    with pytest.raises(evsim.EvsimError, match="expects tokens \\[N, D\\] per step, got shape \\[12\\] from q, k, v"):
        load_spec(write_spec(tmp_path, text))


def test_activity_counts_spikes_of_integer_outputs_and_inputs_per_step(tmp_path):
    text = """
input: {shape: [4], T: 2, encoding: frames, values: binary}
layers:
  - {name: a, kind: lif, v_threshold: 0.5}
  - {name: b, kind: lif, v_threshold: 0.5, input: input}
  - {name: sum, kind: add, inputs: [a, b]}
  - {name: fc, kind: linear, out_features: 2, bias: false}
"""
    spec = load_spec(write_spec(tmp_path, text))
    x = np.array([[1.0, 1, 0, 0], [0, 1, 0, 0]])
    run = evsim.load(spec, {"fc": {"weight": np.ones((2, 4))}}).run(x, engine="event")
    assert run.activity["sum"] == (8, 3, 6.0)          # values 2, 2, 0, 0 | 0, 2, 0, 0: 3 events, 6 spikes
    assert run.activity["a"] == (8, 3, 3.0)
    assert run.activity["fc"] == (4, 4, 4.0)           # analog values 4, 4 | 2, 2: spikes = events, not Σ values
    fc = run.stats["fc"]
    assert fc.counts["input_spikes"].tolist() == [4, 2] and fc.counts["input_events"].tolist() == [2, 1]
    assert fc.outputs == 2 and fc.steps == 2


def test_layer_stats_sized_for_a_batch_keep_the_layers_own_steps(tmp_path):
    from evsim.stats import LayerStats
    spec = load_spec(write_spec(tmp_path, "input: {shape: [4], T: 3, encoding: frames, values: binary}\nlayers:\n"
                                           "  - {name: fc, kind: linear, out_features: 2}\n"))
    stats = LayerStats.for_layer(spec.facts("fc"), "linear", 10, steps=12)
    assert stats.steps == 3 and stats.counts["synaptic_events"].shape == (12,) and stats.outputs == 2
    assert LayerStats.for_layer(spec.facts("fc"), "linear", 10).counts["bias_adds"].shape == (3,)
