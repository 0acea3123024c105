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
