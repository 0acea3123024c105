"""The ``lca`` and ``lca_decode`` kinds (ViT-LCA): an independent NumPy implementation of the
released code's update, dense = event spike for spike and count for count on both lateral
paths, the Brian2 twin, analytic counts = the paper's formula, and the digits accuracies."""
import importlib.util

import numpy as np
import pytest

import energy
import evsim
from energy.audit import vit_lca_flops
from evsim.cli import main
from evsim.crossval.twins import lca_brian
from evsim.errors import WeightsError
from evsim.kinds.lca import mean_active
from evsim.spec import load_spec

from conftest import MODELS, ROOT, write_spec

SMALL = """name: lca-small
input: {{shape: [{n}], T: 1, encoding: direct}}
layers:
  - {{name: lca, kind: lca, atoms: {m}, tau: {tau}, threshold: {lam}, iterations: {k}, lateral: {lateral}}}
  - {{name: decode, kind: lca_decode, classes: 3}}
"""


def small_network(tmp_path, lateral="gram", m=60, n=20, tau=10.0, lam=0.5, k=40, seed=0):
    spec = load_spec(write_spec(tmp_path, SMALL.format(n=n, m=m, tau=tau, lam=lam, k=k, lateral=lateral)))
    rng = np.random.default_rng(seed)
    phi = rng.standard_normal((m, n))
    phi /= np.linalg.norm(phi, axis=1, keepdims=True)
    labels = rng.integers(0, 3, m).astype(float)
    x = 2.0 * rng.standard_normal(n)
    x[:5] = 0.0    # some silent input features: b is event-driven too
    return spec, evsim.load(spec, {"lca": {"dictionary": phi}, "decode": {"labels": labels}}), phi, labels, x


def reference_lca(phi, s, tau, lam, iterations):
    """ViT-LCA's vit_lca_main.py loop, written from the paper's description: b = S·Φᵀ,
    u += lr·(b − (ΦᵀΦ a − a) − u), a = u − λ where u > λ (strict), lr = 1/τ."""
    gram = phi @ phi.T
    b = s @ phi.T
    u = np.zeros(phi.shape[0])
    a = np.zeros(phi.shape[0])
    lr = 1.0 / tau
    for _ in range(iterations):
        u = u + lr * (b - (gram @ a - a) - u)
        a = (u > lam) * (u - lam)
    return a


@pytest.mark.parametrize("lateral", ["gram", "on_the_fly"])
def test_lca_matches_an_independent_numpy_implementation(tmp_path, lateral):
    spec, net, phi, labels, x = small_network(tmp_path, lateral)
    assert phi.shape[0] > phi.shape[1]          # more atoms than features
    a = reference_lca(phi, x, 10.0, 0.5, 40)
    assert 1 < np.count_nonzero(a) < len(a)
    for engine in ("dense", "event"):
        assert np.max(np.abs(run_activations(net, x, engine) - a)) < 1e-12
        run = net.run(x, engine=engine)
        assert run.output[0] == labels[np.argmax(a)]
        assert run.output[1] == np.argmax([a[labels == c].sum() for c in range(3)])


def run_activations(net, x, engine):
    """The lca layer's output (a network whose output is the lca layer)."""
    spec = net.spec
    spec_out = load_spec(spec.path)
    spec_out.output = "lca"
    return evsim.load(spec_out, net.params).run(x, engine=engine).output


@pytest.mark.parametrize("lateral", ["gram", "on_the_fly"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_dense_and_event_agree_exactly_and_counts_equal_the_brute_force(tmp_path, lateral, dtype):
    spec, net, phi, labels, x = small_network(tmp_path, lateral)
    dense, event = (run_activations(net, x, engine) for engine in ("dense", "event"))
    assert dense.dtype == np.float64 and np.array_equal(dense, event)
    dense_run, event_run = net.run(x, engine="dense", dtype=dtype), net.run(x, engine="event", dtype=dtype)
    assert np.array_equal(dense_run.output, event_run.output)
    if dtype == np.float64:     # the brute force recomputes in float64
        for field, counts in dense_run.stats["lca"].counts.items():
            assert np.array_equal(counts, event_run.stats["lca"].counts[field]), field
    stats = event_run.stats["lca"]
    m, n, k = 60, 20, 40
    final = np.count_nonzero(dense)
    sent = stats.counts["output_spikes"] - final     # a_1..a_{K−1} send events (a_0 = 0)
    b_macs = np.count_nonzero(x) * m
    if lateral == "gram":
        assert np.array_equal(stats.counts["synaptic_events"], b_macs + sent * m)
        assert stats.counts["dense_synaptic_ops"][0] == m * n + k * m * m
    else:
        assert np.all(stats.counts["synaptic_events"] > b_macs + sent * n)
        assert stats.counts["dense_synaptic_ops"][0] == m * n + 2 * k * m * n
    assert np.array_equal(stats.counts["neuron_updates"], [k * m])
    assert mean_active(stats) == pytest.approx(stats.total("output_spikes") / k)


def test_more_than_one_time_step_is_refused(tmp_path):
    text = SMALL.format(n=20, m=60, tau=10.0, lam=0.5, k=40, lateral="gram").replace("T: 1", "T: 2")
    spec = load_spec(write_spec(tmp_path, text))
    net = evsim.load(spec, evsim.synthetic.initial_weights(spec, 0))
    with pytest.raises(evsim.EvsimError, match="one static input.*T: 1"):
        net.run(np.ones(20), engine="dense")


def test_the_lca_kind_agrees_with_the_brian2_twin(tmp_path):
    """The kind (neurons.lca driven with X = b − (ΦΦᵀa − a)) against Brian2's LCA network."""
    spec, net, phi, labels, x = small_network(tmp_path, m=30, n=12, tau=10.0, lam=1.0, k=60, seed=3)
    a = run_activations(net, x, "event")
    params = spec.layers["lca"].neuron()
    u_brian = lca_brian(phi @ x, phi @ phi.T, params, 60)
    a_brian = np.where(u_brian[-1] > 1.0, u_brian[-1] - 1.0, 0.0)
    assert np.count_nonzero(a) > 1 and np.array_equal(a > 0, a_brian > 0)
    assert np.max(np.abs(a - a_brian)) < 1e-12


def test_non_unit_atoms_are_refused(tmp_path):
    spec, net, phi, labels, x = small_network(tmp_path)
    bad = evsim.load(spec, {"lca": {"dictionary": 2 * phi}, "decode": {"labels": labels}})
    with pytest.raises(WeightsError, match="layer 'lca'.*not unit vectors.*norm 2"):
        bad.run(x)
    with pytest.raises(WeightsError, match="class indices 0..2"):
        evsim.load(spec, {"lca": {"dictionary": phi}, "decode": {"labels": labels + 0.5}}).run(x)


def test_the_lateral_path_is_chosen_by_the_memory_budget(tmp_path, capsys):
    text = SMALL.format(n=8, m=100, tau=10.0, lam=0.5, k=5, lateral="auto").replace("lateral: auto", "gram_budget_mb: 0.05")
    spec = load_spec(write_spec(tmp_path, text))
    assert spec.layers["lca"].lateral_path() == "on_the_fly"        # 100²·8 bytes = 0.076 MB > 0.05 MB
    evsim.load(spec, evsim.synthetic_weights(spec, seed=0, target_rate=0.1)).run(np.ones(8), engine="event")
    assert "computed from the dictionary on the fly" in capsys.readouterr().err
    assert load_spec(write_spec(tmp_path, text.replace("0.05", "1"))).layers["lca"].lateral_path() == "gram"


def test_analytic_counts_of_the_paper_configuration_are_its_formula():
    """M = 50000, N = 768, K = 100, M̂ = 200 declared: MACs N·M + K·M̂·M; FLOPs = 2·MACs − M + K·M."""
    report = energy.analytic("vit-lca", None, "horowitz45-fp32", "exact")
    macs = report.totals()["mac"] if hasattr(report, "totals") else sum(r.mac for r in report.rows)
    assert macs == pytest.approx(768 * 50_000 + 100 * 200 * 50_000)
    stats = energy.analytic_stats(load_spec("vit-lca"), {})["lca"]
    flops = 2 * stats.total("synaptic_events") - 50_000 + stats.total("neuron_updates")
    assert flops == pytest.approx(vit_lca_flops(50_000, 768, 100, 200))
    assert report.total_mj == pytest.approx(macs * 4.6e-9)


def load_builder():
    found = importlib.util.spec_from_file_location("vit_lca_digits", ROOT / "benchmarks" / "vit_lca_digits.py")
    module = importlib.util.module_from_spec(found)
    found.loader.exec_module(module)
    return module


def test_digits_accuracy_of_both_decoders(capsys):
    """The shipped digits configuration (M = 500 training images) on the 360 held-out test
    images. Measured: 92.22 % (max activation) and 95.56 % (max sum), M̂ = 100.1."""
    builder = load_builder()
    x_train, y_train, x_test, y_test = builder.split()
    shipped = evsim.weights.read_flat(MODELS / "vit-lca-digits.npz")
    built = evsim.weights.flatten(builder.dictionary(x_train, y_train, builder.SHIPPED_ATOMS))
    assert shipped.keys() == built.keys() and all(np.array_equal(shipped[k], built[k]) for k in built)
    test_set = np.load(MODELS / "vit-lca-digits-test.npz")
    assert np.array_equal(test_set["inputs"], x_test) and np.array_equal(test_set["labels"], y_test)
    net = evsim.load("vit-lca-digits", MODELS / "vit-lca-digits.npz")
    result = builder.evaluate(net, x_test, y_test)
    with capsys.disabled():
        print(f"\nViT-LCA digits, M = 500, 360 test images: max-activation {100 * result['accuracy_max_activation']:.2f} %, "
              f"max-sum {100 * result['accuracy_max_sum']:.2f} %, M̂ = {result['mean_active']:.2f} active atoms per iteration, "
              f"{result['synaptic_events'] / 1e6:.3f} M MACs per inference (measured)")
    assert result["accuracy_max_activation"] > 0.91 and result["accuracy_max_sum"] > 0.94
    assert 90 < result["mean_active"] < 110


def test_cli_runs_the_digits_spec_and_saves_both_outputs(tmp_path):
    x = np.load(MODELS / "vit-lca-digits-test.npz")["inputs"][:3].astype(float)
    np.save(tmp_path / "x.npy", x)
    weights = str(MODELS / "vit-lca-digits.npz")
    assert main(["run", "vit-lca-digits", "--weights", weights, "--input", str(tmp_path / "x.npy"),
                 "--save-output", str(tmp_path / "y.npy")]) == 0
    y = np.load(tmp_path / "y.npy")
    assert y.shape == (3, 2) and np.all((0 <= y) & (y < 10))
    activations = write_spec(tmp_path, f"extends: {MODELS / 'vit-lca-digits.yaml'}\noutput: lca\n", "a.yaml")
    assert main(["run", str(activations), "--weights", weights, "--input", str(tmp_path / "x.npy"),
                 "--save-output", str(tmp_path / "a.npy")]) == 0
    a = np.load(tmp_path / "a.npy")
    assert a.shape == (3, 500) and np.all(a >= 0) and np.all(np.count_nonzero(a, axis=1) > 0)


def test_audit_rows_of_vit_lca():
    from energy.audit import audit
    from evsim.cli import measure_runs
    ids = ("vit-lca", "vit-lca-digits-measured")
    rows = {r.id: r for r in audit(reprice=False, measure=lambda spec, w, x: measure_runs(spec, w, x[:40]), ids=ids)}
    checks = {c.quantity: c.recomputed for c in rows["vit-lca"].checks}
    macs, updates = 768 * 50_000 + 100 * 50_000 * 200, 100 * 50_000
    assert checks["LCA energy at 45 nm (4.6 pJ per MAC, 0.9 pJ per update)"] == pytest.approx((4.6 * macs + 0.9 * updates) / 1e9)
    assert checks["ViT-B/16 + LCA at 45 nm"] == pytest.approx(4.6 * 17.56 + (4.6 * macs + 0.9 * updates) / 1e9)
    measured = {c.quantity: c.recomputed for c in rows["vit-lca-digits-measured"].checks}
    assert measured["inputs run (event engine, float64)"] == 40
    flops = measured["measured FLOPs per inference, 2·MACs + K·M updates"]
    # the formula counts b densely ((2N − 1)M) and K iterations at M̂; measured b skips zero pixels
    assert flops < measured["paper's formula at the same M, K and measured M̂"] < 1.03 * flops
    assert measured["accuracy, max-sum decoder"] > 85
    unmeasured = audit(reprice=False, ids=ids)[1]
    assert unmeasured.checks[0].quantity.startswith("not measured")
