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
