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
    from evsim.stats import events_per_step
    # the spikes as counted while written (the tie included), without a pass over the output
    assert np.array_equal(events_per_step(out), np.count_nonzero(expected.reshape(6, -1), axis=1))


# -- closed forms that single operators would break (mutation survivors) --------------------

def test_lif_with_a_reset_of_one_by_hand():
    """V_reset = 1 (not the V_reset = 0 shortcut): H = V + (X − (V − V_reset))/τ, from V = 1."""
    p = lif.Parameters(tau=2.0, v_threshold=2.0, v_reset=1.0)
    spikes, v, h = drive(lif, p, [1.0, 4.0, 0.0])
    assert h == [1.0 + (1.0 - 0.0) / 2, 1.5 + (4.0 - 0.5) / 2, 1.0 + (0.0 - 0.0) / 2]   # 1.5; 3.25 fires; from V = 1: 1.0
    assert spikes == [0.0, 1.0, 0.0] and v == [1.5, 1.0, 1.0]


@pytest.mark.parametrize("tau,ok", [(1, True), (1.0, True), (0.99, False), (0.5, False), (True, False), ("2", False),
                                    (np.array([1.0, 3.0]), True), (np.array([1.0, 0.5]), False)])
def test_lif_time_constant_check(tau, ok):
    p = lif.Parameters(tau=tau)
    if ok:
        lif.check(p)
    else:
        with pytest.raises(ValueError, match="'tau' must be a number ≥ 1"):
            lif.check(p)


@pytest.mark.parametrize("params,tie", [(dict(tau=2.0, v_reset=-0.2), 2.4), (dict(tau=2.0, v_reset=-0.2, decay_input=False), 1.2),
                                        (dict(tau=3.0, v_reset=None), 3.0), (dict(tau=3.0, v_reset=None, decay_input=False), 1.0),
                                        (dict(tau=2.0, v_threshold=0.5, v_reset=0.25), 0.5)])
def test_lif_tie_input_takes_a_neuron_at_rest_exactly_to_threshold(params, tie):
    p = lif.Parameters(**params)
    assert lif.tie_input(p) == pytest.approx(tie)
    state = lif.initial_state((1,), p, np.float64)
    assert lif.charge(state.v, np.array([tie]), p)[0] == pytest.approx(p.v_threshold)


def test_lif_compiled_pass_declines_what_it_cannot_do():
    x = np.ones((2, 3))
    state = lif.initial_state((3,), lif.Parameters(), np.float64)
    assert lif.run_steps(np.ones((2, 3), dtype=np.int64), state, lif.Parameters()) is None
    for per_neuron in (dict(tau=np.full(3, 2.0)), dict(v_threshold=np.full(3, 1.0)), dict(v_reset=np.zeros(3))):
        assert lif.run_steps(x, state, lif.Parameters(**per_neuron)) is None, per_neuron


def test_strict_firing_leaves_the_exact_tie_silent():
    h = np.array([0.5, 1.0, 1.5])
    assert neurons.fire(h, 1.0).tolist() == [0, 1, 1] and neurons.fire(h, 1.0, strict=True).tolist() == [0, 0, 1]
    assert neurons.fire(h.astype(np.float32), 1.0).dtype == np.float32
    p = integrate_fire.Parameters(v_threshold=1.0, strict=True)
    assert neurons.run(integrate_fire, np.array([[1.0], [0.5]]), p)[0][:, 0].tolist() == [0.0, 1.0]
    p = neurons.cuba_lif.Parameters(tau_syn=1.0, tau_mem=1.0, v_threshold=1.0, strict=True)
    assert neurons.run(neurons.cuba_lif, np.array([[1.0], [0.0], [1.5]]), p)[0][:, 0].tolist() == [0.0, 0.0, 0.0]


def test_if_hard_reset_to_a_nonzero_value_and_float32_state():
    p = integrate_fire.Parameters(v_threshold=1.0, v_reset=-0.5)
    x = np.array([[0.75], [1.0], [0.25]], dtype=np.float32)
    spikes, state = neurons.run(integrate_fire, x, p)
    assert spikes[:, 0].tolist() == [0.0, 1.0, 0.0]   # from −0.5: 0.25, 1.25 fires → −0.5, −0.25
    assert state.v[:, 0].tolist() == [0.25, -0.5, -0.25] and state.v.dtype == np.float32 and spikes.dtype == np.float32
    assert integrate_fire.initial_state((2,), p, np.float32).v.tolist() == [-0.5, -0.5]


@pytest.mark.parametrize("v_reset", [-0.2, None])
def test_cuba_lif_by_hand(v_reset):
    """I[t] = I[t−1] + (w_in X[t] − I[t−1])/τ_syn; H[t] = V[t−1] + (V_leak − V[t−1] + R·I[t−1])/τ_mem."""
    model = neurons.cuba_lif
    p = model.Parameters(tau_syn=2.0, tau_mem=2.0, r=2.0, v_leak=0.0, v_threshold=1.0, v_reset=v_reset, w_in=1.0)
    x = np.array([[2.0], [2.0], [0.0], [0.0]], dtype=np.float32)
    spikes, state = neurons.run(model, x, p)
    v, i, s, vs = (-0.2 if v_reset is not None else 0.0), 0.0, [], []
    for xt in x[:, 0]:
        h = v + (0.0 - v + 2.0 * i) / 2.0
        i = i + (1.0 * xt - i) / 2.0
        fired = float(h >= 1.0)
        v = (h * (1 - fired) + v_reset * fired) if v_reset is not None else h - fired * 1.0
        s.append(fired)
        vs.append(v)
    assert spikes[:, 0].tolist() == s and 0 < sum(s) < 4
    assert state.v[:, 0] == pytest.approx(vs) and state.v.dtype == np.float32 and state.current.dtype == np.float32
    initial = model.initial_state((2,), p, np.float32)
    assert initial.v.tolist() == [np.float32(-0.2 if v_reset is not None else 0.0)] * 2
    assert initial.current.tolist() == [0, 0]


def test_a_model_is_registered_only_with_everything_it_needs():
    import types
    complete = types.SimpleNamespace(**{name: getattr(lif, name) for name in neurons.REQUIRED})
    complete.NAME = "test_registered_lif"
    try:
        assert neurons.register(complete) is complete and neurons.NEURON_MODELS["test_registered_lif"] is complete
    finally:
        neurons.NEURON_MODELS.pop("test_registered_lif", None)
    partial = types.SimpleNamespace(NAME="half", step=lif.step, check=lif.check)
    from evsim.errors import EvsimError
    with pytest.raises(EvsimError) as err:
        neurons.register(partial)
    assert err.value.bare_message == "neuron model 'half' lacks OUTPUT_VALUES, Parameters, State, initial_state, twin, CROSSVAL"
    assert err.value.fix == "see evsim/neurons/__init__.py for what a neuron model provides"
    assert "half" not in neurons.NEURON_MODELS
    nameless = types.SimpleNamespace(step=lif.step)
    with pytest.raises(EvsimError) as err:
        neurons.register(nameless)
    assert err.value.bare_message.startswith(f"neuron model {nameless!r} lacks NAME, ")
