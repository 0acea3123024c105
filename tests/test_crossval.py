"""Brian2 cross-validation: every neuron model, the LCA dynamics and a small network agree
with their Brian2 twins (numpy code generation, so no compiler is needed in CI)."""
import numpy as np
import pytest

from evsim import neurons
from evsim.cli import main
from evsim.crossval import MODELS, compare, compare_lca, compare_network, drive, lca_problem
from evsim.crossval.twins import resolved_params


@pytest.mark.parametrize("name", list(MODELS))
def test_neuron_model_matches_brian2_twin(name):
    x = drive(name, T=120, n=40, seed=1)
    result = compare(name, x)
    assert result.max_abs_dv < 1e-9
    assert result.same_spikes, result.spike_time_differences[:3]
    assert result.evsim_spikes > 50
    # the tie neurons (the first fifth) are kicked exactly onto the threshold every 7th step: they must fire then
    params = resolved_params(MODELS[name], x.shape[1])
    step = neurons.lif_step if MODELS[name].kind == "lif" else neurons.if_step
    spikes, _, charged = neurons.run_neurons(step, x, params)
    assert np.all(charged[::7, :8] == params.v_threshold), "the drive lands exactly on the threshold"
    assert np.all(spikes[::7, :8] == 1), "H = V_th fires (≥), in evsim and, by the equality above, in Brian2"


def test_lca_dynamics_match_brian2():
    b, gram = lca_problem(seed=2)
    params = neurons.LCAParameters(threshold=1.0, tau=10.0)
    result = compare_lca(b, gram, params, iterations=100)
    assert result.max_abs_du < 1e-9 and result.max_abs_da < 1e-9
    u_final = result.traces[0][-1]
    active = np.nonzero(neurons.lca_threshold(u_final, 1.0))[0]
    assert result.same_active_set and {1, 7, 20} <= set(active.tolist()), "LCA finds the atoms the input was made of"


def test_small_network_identical_spikes_after_brian_schedule_shift():
    for seed in (0, 1):
        result = compare_network(seed=seed)
        assert result.same_spikes, result.mismatched[:5]
        assert result.evsim_spikes > 1000 and result.max_abs_dv < 1e-9


def test_crossval_cli(tmp_path, capsys):
    assert main(["crossval", "--model", "lif-soft", "--plot", str(tmp_path / "cv.png")]) == 0
    out = capsys.readouterr().out
    assert "identical spikes" in out and "max |ΔV|" in out
    assert (tmp_path / "cv.png").read_bytes()[:4] == b"\x89PNG"
    assert main(["crossval", "--model", "hodgkin-huxley"]) == 2
