"""The evsim command: run with weights and inputs from files, batches, saved outputs."""
import numpy as np

import evsim
from evsim.cli import main

from conftest import SPECS, perturbed_weights


def test_run_saves_outputs_and_spikes(tmp_path, capsys):
    spec_path = SPECS / "every_kind.yaml"
    spec = evsim.load_spec(spec_path)
    params = perturbed_weights(spec, 4, 0.2)
    weights = tmp_path / "w.safetensors"
    evsim.weights.save(params, weights)
    batch = np.random.default_rng(0).standard_normal((3, *spec.input.shape))
    np.save(tmp_path / "x.npy", batch)
    out, spikes = tmp_path / "out.npy", tmp_path / "spikes.npz"
    assert main(["run", str(spec_path), "--weights", str(weights), "--input", str(tmp_path / "x.npy"), "--engine", "event",
                 "--save-output", str(out), "--save-spikes", str(spikes)]) == 0
    printed = capsys.readouterr()
    assert "input 2:" in printed.out and "spikes/neuron/step" in printed.out
    reference = [evsim.load(spec, params).run(x, engine="dense") for x in batch]
    assert np.allclose(np.load(out), np.stack([r.output for r in reference]))
    with np.load(spikes) as saved:
        assert set(saved.files) == set(reference[0].spikes)
        assert saved["q_lif"].shape == (3, spec.input.T, 25, 8)
        assert np.array_equal(saved["q_lif"][1], reference[1].spikes["q_lif"])


def test_run_rejects_a_wrong_input_shape(tmp_path, capsys):
    np.save(tmp_path / "x.npy", np.zeros((2, 2)))
    assert main(["run", str(SPECS / "every_kind.yaml"), "--synthetic-rate", "0.1", "--input", str(tmp_path / "x.npy")]) == 2
    assert "expected [4, 9, 9] or a batch" in capsys.readouterr().err
