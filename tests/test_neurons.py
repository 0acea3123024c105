"""Neuron step functions against sequences computed by hand from SpikingJelly's equations."""
import numpy as np
import pytest

from evsim import neurons
from evsim.neurons import integrate_fire, lca, lif


def drive(model, p, xs):
    xs = np.asarray(xs, dtype=np.float64)[:, None]
    s, trace = neurons.run(model, xs, p)
    h = []
    state = model.initial_state((1,), p, np.float64)
    for x in xs:  # the charged potential H[t], before the reset
        h.append(float((lif.charge(state.v, x, p) if model is lif else state.v + x)[0]))
        _, state = model.step(x, state, p)
    return s[:, 0].tolist(), trace.v[:, 0].tolist(), h


def test_lif_hard_reset_by_hand():
    # tau 2, V_th 1, V_reset 0: H = V + (X − V)/2
    s, v, h = drive(lif, lif.Parameters(2.0, 1.0, 0.0, True), [1.0, 1.0, 2.0, 0.0, 3.0])
    assert h == [0.5, 0.75, 1.375, 0.0, 1.5]
    assert s == [0, 0, 1, 0, 1]
    assert v == [0.5, 0.75, 0.0, 0.0, 0.0]


def test_lif_fires_on_exact_threshold_tie():
    # H = 0 + (2 − 0)/2 = 1.0 exactly: Heaviside(0) = 1, so it fires (>=, not >)
    s, _, h = drive(lif, lif.Parameters(2.0, 1.0, 0.0, True), [2.0])
    assert h == [1.0] and s == [1]
    s, _, _ = drive(lif, lif.Parameters(2.0, 1.0, 0.0, True), [np.nextafter(2.0, 0)])
    assert s == [0]


def test_lif_soft_reset_subtracts_threshold():
    s, v, h = drive(lif, lif.Parameters(2.0, 1.0, None, True), [3.0, 0.0, 2.0])
    # H0 = 1.5 → spike, V = 0.5; H1 = 0.5 + (0 − 0.5)/2 = 0.25; H2 = 0.25 + (2 − 0.25)/2 = 1.125 → spike, V = 0.125
    assert h == [1.5, 0.25, 1.125]
    assert s == [1, 0, 1]
    assert v == [0.5, 0.25, 0.125]


def test_lif_without_input_decay_and_nonzero_reset():
    p = lif.Parameters(4.0, 1.0, -0.5, False)
    s, v, h = drive(lif, p, [0.5, 1.25, 0.0])
    # H = V − (V − V_reset)/τ + X with V0 = −0.5: H0 = −0.5 + 0.5 = 0.0; H1 = 0 − 0.125 + 1.25 = 1.125 → spike, V = −0.5
    assert h == [0.0, 1.125, -0.5]
    assert s == [0, 1, 0]
    assert v == [0.0, -0.5, -0.5]


def test_if_hard_and_soft_reset():
    s, v, _ = drive(integrate_fire, integrate_fire.Parameters(1.0, 0.0), [0.5, 0.5, 0.75])
    assert s == [0, 1, 0] and v == [0.5, 0.0, 0.75]
    s, v, _ = drive(integrate_fire, integrate_fire.Parameters(1.0, None), [0.75, 0.75, 0.75])
    assert s == [0, 1, 1] and v == [0.75, 0.5, 0.25]


def test_lca_neuron_matches_the_vit_lca_update():
    gram = np.array([[1.0, 0.5], [0.5, 1.0]])
    b = np.array([3.0, 1.0])
    p = lca.Parameters(threshold=2.0, tau=10.0)
    u = np.array([2.5, 1.0])
    a_prev = lca.soft_threshold(u, p.threshold)
    a, state = lca.step(b - (gram @ a_prev - a_prev), lca.State(u), p)
    assert a_prev.tolist() == [0.5, 0.0]
    # u += (1/τ)(b − (ΦᵀΦ a − a) − u): ΦᵀΦa − a = [0, 0.25]
    assert np.allclose(state.u, [2.5 + (3.0 - 0.0 - 2.5) / 10, 1.0 + (1.0 - 0.25 - 1.0) / 10])
    assert np.allclose(a, lca.soft_threshold(state.u, 2.0))


def test_exp_lif_by_hand():
    """sinabs' IAF (τ = ∞: α = 1) with V_min = −1: one spike a step however far past θ, subtract θ, clip."""
    p = neurons.exp_lif.Parameters(tau_mem=np.inf, v_threshold=1.0, norm_input=False, min_v_mem=-1.0)
    spikes, state = neurons.run(neurons.exp_lif, np.array([[0.75], [0.5], [2.5], [-4.0], [0.25]]), p)
    assert spikes[:, 0].tolist() == [0, 1, 1, 0, 0]
    assert state.v[:, 0].tolist() == [0.75, 0.25, 1.75, -1.0, -0.75]
    # sinabs' LIF: α = e^{−1/τ}; norm_input scales the input by 1 − α
    p = neurons.exp_lif.Parameters(tau_mem=4.0, v_threshold=1.0, norm_input=True)
    a = np.exp(-0.25)
    spikes, state = neurons.run(neurons.exp_lif, np.array([[2.0], [2.0]]), p)
    assert state.v[0, 0] == (1 - a) * 2.0 and state.v[1, 0] == a * state.v[0, 0] + (1 - a) * 2.0 and not spikes.any()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("params", [dict(), dict(decay_input=False), dict(v_reset=None), dict(v_reset=-0.3, tau=3.0),
                                    dict(v_reset=0.2, decay_input=False, tau=1.7, v_threshold=0.1)])
def test_lif_compiled_pass_equals_its_numpy_steps_bit_for_bit(dtype, params):
    """``lif.run_steps`` (one Numba pass over all steps) against ``lif.step`` called per step,
    on inputs that include the exact tie input (H = V_th at rest) and its float neighbours."""
    from evsim.neurons import lif
    p = lif.Parameters(**params)
    rng = np.random.default_rng(4)
    tie = dtype(lif.tie_input(p))
    x = rng.normal(0.4, 0.8, (6, 5, 7)).astype(dtype)
    x[0, 0, :3] = [tie, np.nextafter(tie, dtype(0)), np.nextafter(tie, dtype(9))]
    state = lif.initial_state(x.shape[1:], p, dtype)
    out, final = lif.run_steps(x, state, p)
    expected = np.empty_like(x)
    for t in range(x.shape[0]):
        expected[t], state = lif.step(x[t], state, p)
    assert out.dtype == x.dtype and np.array_equal(out, expected)
    assert np.array_equal(final.v, state.v) and final.v.dtype == state.v.dtype
    assert 0 < out.mean() < 1
