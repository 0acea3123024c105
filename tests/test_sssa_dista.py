"""SNN-ViT (sssa, saccadic neuron, GL-SPS) and DISTA (plif, st_attention): each new kind against an
independent NumPy formulation, dense = event spike for spike in float64 with counts equal to the
brute force, step-by-step = all steps at once, and PLIF bit for bit against SpikingJelly."""
import math
import sys

import numpy as np
import pytest

import evsim
from evsim import neurons
from evsim.kinds.attention import Attention
from evsim.kinds.conv2d_multiscale import Conv2dMultiscale
from evsim.kinds.sssa import SSSA, thresholds
from evsim.kinds.st_attention import STAttention, min_score
from evsim.neurons import plif, saccadic
from evsim.stats import COUNT_FIELDS

import reference
from conftest import ROOT, write_spec

sys.path.insert(0, str(ROOT / "benchmarks"))
from attention_scaling import facts_of, scaling_table  # noqa: E402

RNG = np.random.default_rng(7)


def spikes(shape, rate, rng=RNG):
    return (rng.random(shape) < rate).astype(np.float64)


def run_kind(layer, params, inputs, engine, state=None, t0=0):
    """One call of a kind's dense or event facet over the inputs' steps: (output, counts)."""
    steps = inputs[0].shape[0]
    facts = facts_of(layer, inputs[0].shape[1:], steps)
    counts = {f: np.zeros(t0 + steps, dtype=np.int64) for f in COUNT_FIELDS}
    plan = layer.prepare(params, np.float64, facts, engine)
    state = {} if state is None else state
    if engine == "dense":
        return layer.dense(plan, inputs, state), counts
    return layer.event(plan, inputs, state, counts, slice(t0, t0 + steps)), counts


def brute_counts(layer, params, inputs, output):
    facts = facts_of(layer, inputs[0].shape[1:], inputs[0].shape[0])
    counts = {f: np.zeros(inputs[0].shape[0], dtype=np.int64) for f in COUNT_FIELDS}
    layer.count(params, inputs, output, facts, counts)
    return counts


def assert_counts_equal(a, b, fields=COUNT_FIELDS):
    for field in fields:
        if field not in ("input_elements", "input_events", "input_spikes"):  # the engine records those
            assert np.array_equal(a[field], b[field]), field


# -- PLIF --------------------------------------------------------------------------------------

@pytest.mark.parametrize("v_reset,decay_input", [(0.0, True), (None, True), (-0.3, False), (0.0, False)])
def test_plif_equals_spikingjelly_bit_for_bit(v_reset, decay_input):
    torch = pytest.importorskip("torch")
    from spikingjelly.clock_driven import neuron
    node = neuron.MultiStepParametricLIFNode(init_tau=2.0, decay_input=decay_input, v_reset=v_reset).double()
    w = 0.7345
    with torch.no_grad():
        node.w.fill_(w)
    x = np.random.default_rng(1).uniform(-0.5, 2.5, (40, 300))
    with torch.no_grad():
        sj_spikes = node(torch.tensor(x)).numpy()
    sj_v = node.v_seq.numpy()
    p = plif.Parameters(v_reset=v_reset, decay_input=decay_input, w=np.asarray(w))
    ours, trace = neurons.run(plif, x, p)
    assert np.array_equal(ours, sj_spikes) and np.array_equal(trace.v, sj_v)
    assert 0.05 < ours.mean() < 0.95
    assert plif.tau(w) == pytest.approx(1 + math.exp(-w), rel=1e-15)   # τ = 1 + e^{−w}: 1/τ = sigmoid(w)
    assert plif.initial_learned(plif.Parameters(init_tau=3.0), {"w": ()}, None)["w"] == pytest.approx(-math.log(2.0))


PLIF_SPEC = """name: plif-net
input: {shape: [10, 12], T: 6, encoding: frames, values: binary}
layers:
  - {name: fc1, kind: linear, out_features: 16}
  - {name: bn1, kind: batchnorm}
  - {name: lif1, kind: plif, per_neuron: true, init_tau: 3.0}
  - {name: fc2, kind: linear, out_features: 8}
  - {name: bn2, kind: batchnorm}
  - {name: lif2, kind: plif, v_reset: null}
"""


def test_plif_learned_tau_loads_from_weights(tmp_path):
    spec = evsim.load_spec(write_spec(tmp_path, PLIF_SPEC))
    shapes = spec.parameter_shapes()
    assert shapes["lif1"] == {"w": (10, 16)} and shapes["lif2"] == {"w": ()}
    params = evsim.synthetic_weights(spec, seed=0, target_rate=0.2)
    params["lif2"]["w"] = np.asarray(-1.5)          # τ = 1 + e^{1.5} ≈ 5.48 steps
    for suffix in ("npz", "safetensors"):
        path = tmp_path / f"w.{suffix}"
        evsim.load(spec, params).save_weights(path)
        net = evsim.load(spec, path)
        assert net.params["lif2"]["w"].shape == () and net.params["lif2"]["w"] == -1.5
        x = spikes((6, 10, 12), 0.3)
        dense_run, event_run = net.run(x), net.run(x, engine="event")
        for name in ("lif1", "lif2"):
            assert np.array_equal(dense_run.spikes[name], event_run.spikes[name])
            assert 0 < dense_run.spikes[name].mean() < 1
    # the layer is the neuron model driven by the folded linear's output (an independent recomputation)
    folded = net.execution_params["fc2"]
    current = dense_run.spikes["lif1"] @ folded["weight"].T + folded["bias"]
    expected, _ = neurons.run(plif, current, plif.Parameters(v_reset=None, w=np.asarray(-1.5)))
    assert np.array_equal(expected, dense_run.spikes["lif2"])
    with pytest.raises(evsim.EvsimError, match="'w' has shape"):
        bad = {k: dict(v) for k, v in params.items()}
        bad["lif1"]["w"] = np.zeros(16)
        evsim.load(spec, bad)


# -- the saccadic neuron -------------------------------------------------------------------------

def test_saccadic_neuron_is_the_lower_triangular_sum():
    T, n = 6, 40
    rng = np.random.default_rng(3)
    m_w = rng.normal(0, 1, (T, T))            # the upper triangle must be ignored
    x = rng.uniform(0, 2, (T, n))
    p = saccadic.Parameters(T, 1.5, m_w)
    out, trace = neurons.run(saccadic, x, p)
    h = np.tril(m_w) @ x                      # H = M_w X (closed form, one matrix product)
    assert np.allclose(trace.h, h, rtol=0, atol=1e-12)
    assert np.array_equal(out, (h >= 1.5).astype(float)) or np.abs(h - 1.5).min() < 1e-12
    # LIF without reset is the special case M_w[t, i] = (1 − 1/τ)^{t−i} / τ
    tau = 2.5
    lag = np.subtract.outer(np.arange(T), np.arange(T))
    leaky = np.tril((1 - 1 / tau) ** lag.clip(min=0) / tau)
    _, trace = neurons.run(saccadic, x, saccadic.Parameters(T, 1e9, leaky))
    v = np.zeros(n)
    for t in range(T):
        v = v + (x[t] - v) / tau
        assert np.allclose(trace.h[t], v, atol=1e-12)
    with pytest.raises(evsim.EvsimError, match="covers 6 steps"):
        neurons.run(saccadic, np.zeros((7, 2)), p)


# -- SSSA ------------------------------------------------------------------------------------------

def sssa_reference(q, v, heads, m_w, alpha, v_th, gate):
    """Plain loops over steps, heads and tokens, written from the equations."""
    T, N, D = q.shape
    d = D // heads
    out = np.zeros_like(v)
    theta = np.linalg.inv(np.tril(m_w)[:T, :T]) @ np.full(T, v_th) / alpha
    for h in range(heads):
        for n in range(N):
            counts = [q[t, n, h * d:(h + 1) * d].sum() for t in range(T)]
            for t in range(T):
                if gate == "per_step":
                    open_ = counts[t] >= theta[t]
                else:
                    open_ = sum(m_w[t, i] * alpha * counts[i] for i in range(t + 1)) >= v_th
                if open_:
                    out[t, n, h * d:(h + 1) * d] = v[t, n, h * d:(h + 1) * d]
    return out


@pytest.mark.parametrize("gate", ["per_step", "integrate"])
def test_sssa_dense_event_reference_and_step_by_step(gate):
    T, N, D, heads = 5, 30, 16, 2
    q, v = spikes((T, N, D), 0.3), spikes((T, N, D), 0.4)
    m_w = np.tril(np.random.default_rng(0).uniform(0.1, 1.0, (T, T)))
    params = {"m_w": m_w, "alpha": np.asarray(0.4)}
    layer = SSSA("g", ("q", "v"), heads=heads, v_threshold=1.0, time_steps=T, gate=gate)
    dense, _ = run_kind(layer, params, [q, v], "dense")
    event, counts = run_kind(layer, params, [q, v], "event")
    expected = sssa_reference(q, v, heads, m_w, 0.4, 1.0, gate)
    assert np.array_equal(dense, expected) and np.array_equal(event, expected)
    assert 0.05 < (expected != 0).sum() / (v != 0).sum() < 0.95, "the gate is neither always open nor shut"
    assert_counts_equal(counts, brute_counts(layer, params, [q, v], dense))
    assert counts["synaptic_events"].sum() == q.sum() + expected.sum()
    for engine in ("dense", "event"):  # one step at a time with the same state = all steps at once
        state, parts = {}, []
        for t in range(T):
            out, step_counts = run_kind(layer, params, [q[t:t + 1], v[t:t + 1]], engine, state, t0=t)
            parts.append(out)
            if engine == "event":
                assert step_counts["synaptic_events"][t] == counts["synaptic_events"][t]
        assert np.array_equal(np.concatenate(parts), expected)


def test_sssa_gates_agree_when_m_w_is_diagonal_and_only_spiking_tokens_are_evaluated():
    T, N, D = 4, 50, 8
    q, v = spikes((T, N, D), 0.2), spikes((T, N, D), 0.5)
    diag = {"m_w": np.diag([1.0, 0.5, 2.0, 0.25]), "alpha": np.asarray(0.5)}
    outs = {g: run_kind(SSSA("g", ("q", "v"), time_steps=T, gate=g), diag, [q, v], "event") for g in ("per_step", "integrate")}
    assert np.array_equal(outs["per_step"][0], outs["integrate"][0])
    # θ = α⁻¹ M_w⁻¹ V_th = [2, 4, 1, 8]: the per-step gate evaluates only tokens with a q spike
    assert np.allclose(thresholds(diag["m_w"], 0.5, 1.0, T), [2, 4, 1, 8])
    spiked = np.count_nonzero(q.sum(axis=2), axis=1)
    assert np.array_equal(outs["per_step"][1]["neuron_updates"], spiked)
    assert np.all(outs["integrate"][1]["neuron_updates"] == N)


def test_sssa_cost_is_linear_in_tokens_where_ssa_is_not():
    rows = scaling_table(tokens=(16, 64, 256, 1024))
    for small, large in zip(rows, rows[1:]):  # 4× the tokens each row
        assert 3.6 < large["sssa"] / small["sssa"] < 4.4
        assert large["qk_first"] / small["qk_first"] > 12      # quadratic: ×16
        # kv_first counted event by event: a q spike adds the nonzero entries of its KᵀV row, which fill up as
        # tokens are added, then each token costs at most D·d_h: faster than linear at first, never quadratic
        assert large["kv_first"] / small["kv_first"] < large["qk_first"] / small["qk_first"]
    assert 3.6 < rows[-1]["kv_first"] / rows[-2]["kv_first"] < 4.4  # KᵀV saturated: linear in tokens
    by_heads = {h: scaling_table(tokens=(64,), heads=h)[0] for h in (1, 4)}
    assert by_heads[1]["sssa"] == by_heads[4]["sssa"]            # SSA's own heads do not touch sssa
    assert by_heads[1]["kv_first"] / by_heads[4]["kv_first"] > 3.5  # kv_first ∝ D·d_h: 4× d_h, ~4× cost
    assert all(r["sssa"] * 2 < r["kv_first"] for r in rows)


# -- st_attention (DISTA) --------------------------------------------------------------------------

def st_reference(q, k, v, heads, scale, window, theta):
    """Loops written from the equations: Q_t against every key token of steps t−w…t."""
    T, N, D = q.shape
    d = D // heads
    out = np.zeros_like(q)
    for t in range(T):
        for h in range(heads):
            for n in range(N):
                for tau in range(max(0, t - window), t + 1):
                    for m in range(N):
                        a = scale * float(q[t, n, h * d:(h + 1) * d] @ k[tau, m, h * d:(h + 1) * d])
                        if theta is None or a >= theta:
                            out[t, n, h * d:(h + 1) * d] += a * v[tau, m, h * d:(h + 1) * d]
    return out


@pytest.mark.parametrize("window,theta", [(0, None), (2, None), (1, 0.5), (3, 0.3)])
def test_st_attention_dense_event_reference_and_step_by_step(window, theta):
    T, N, D, heads = 5, 9, 8, 2
    q, k, v = spikes((T, N, D), 0.4), spikes((T, N, D), 0.4), spikes((T, N, D), 0.5)
    layer = STAttention("st", ("q", "k", "v"), heads=heads, scale=0.25, window=window, denoise=theta)
    dense, _ = run_kind(layer, {}, [q, k, v], "dense")
    event, counts = run_kind(layer, {}, [q, k, v], "event")
    expected = st_reference(q, k, v, heads, 0.25, window, theta)
    assert np.allclose(dense, expected, rtol=0, atol=1e-12) and np.array_equal(dense, event)
    assert_counts_equal(counts, brute_counts(layer, {}, [q, k, v], dense))
    stored = [int(k[max(0, t - window):t].sum() + v[max(0, t - window):t].sum()) for t in range(T)]
    assert counts["memory_reads"].tolist() == stored
    assert counts["memory_elements"].tolist() == [2 * N * D * min(t, window) for t in range(T)]
    for engine in ("dense", "event"):
        state, parts = {}, []
        for t in range(T):
            parts.append(run_kind(layer, {}, [a[t:t + 1] for a in (q, k, v)], engine, state, t0=t)[0])
        assert np.array_equal(np.concatenate(parts), dense), engine


def test_st_attention_without_window_and_denoising_is_spikformer_ssa():
    T, N, D, heads = 4, 20, 16, 4
    q, k, v = spikes((T, N, D), 0.3), spikes((T, N, D), 0.3), spikes((T, N, D), 0.3)
    ssa = Attention("ssa", ("q", "k", "v"), heads=heads, scale=0.125, order="qk_first")
    st = STAttention("st", ("q", "k", "v"), heads=heads, scale=0.125, window=0, denoise=None)
    for engine in ("dense", "event"):
        ours, our_counts = run_kind(st, {}, [q, k, v], engine)
        theirs, their_counts = run_kind(ssa, {}, [q, k, v], engine)
        assert np.array_equal(ours, theirs)
        assert_counts_equal(our_counts, their_counts)
    assert st.dense_ops([(N, D)] * 3, (N, D)) == ssa.dense_ops([(N, D)] * 3, (N, D))


def test_st_attention_denoising_threshold_and_expected_counts():
    assert min_score(None, 0.125) == 1 and min_score(0.25, 0.125) == 2 and min_score(0.26, 0.125) == 3
    T, N, D, heads, rate = 6, 40, 32, 2, 0.3
    rng = np.random.default_rng(11)
    q, k, v = (spikes((T, N, D), rate, rng) for _ in range(3))
    layer = STAttention("st", ("q", "k", "v"), heads=heads, scale=0.125, window=2, denoise=0.375)
    _, counts = run_kind(layer, {}, [q, k, v], "event")
    facts = facts_of(layer, (N, D), T)
    expected = {f: np.zeros(T) for f in COUNT_FIELDS}
    measured = [evsim.stats.Rate(a.mean(), a.mean()) for a in (q, k, v)]  # the sample's own rates
    layer.expected(facts, measured, measured[0], expected)
    for field in ("attention_coincidences", "synaptic_events", "weighted_synaptic_events", "memory_reads",
                  "memory_writes"):
        assert counts[field].sum() == pytest.approx(expected[field].sum(), rel=0.08), field
    assert np.array_equal(counts["dense_macs"], expected["dense_macs"])


# -- GL-SPS ------------------------------------------------------------------------------------------

def test_multiscale_conv_is_the_sum_of_its_branches():
    layer = Conv2dMultiscale("sps", ("x",), out_channels=3, kernel_size=3, stride=1, dilations=[1, 2])
    rng = np.random.default_rng(2)
    x = spikes((2, 4, 7, 7), 0.4)
    params = {"weight": rng.normal(size=(3, 4, 3, 3)), "weight_d2": rng.normal(size=(3, 4, 3, 3))}
    expected = np.stack([reference.conv2d(xt, params["weight"], None, (1, 1), (1, 1), (1, 1), 1)
                         + reference.conv2d(xt, params["weight_d2"], None, (1, 1), (2, 2), (2, 2), 1) for xt in x])
    dense, _ = run_kind(layer, params, [x], "dense")
    event, counts = run_kind(layer, params, [x], "event")
    assert np.allclose(dense, expected) and np.allclose(event, expected)
    assert_counts_equal(counts, brute_counts(layer, params, [x], dense))
    assert layer.dense_ops([(4, 7, 7)], (3, 7, 7)) == 2 * 3 * 7 * 7 * 4 * 9


# -- the new kinds together in one network --------------------------------------------------------

NET_SPEC = """name: every-new-kind
input: {shape: [4, 6, 6], T: 5, encoding: direct}
layers:
  - {name: sps, kind: conv2d_multiscale, out_channels: 8, kernel_size: 3, dilations: [1, 2]}
  - {name: sps_bn, kind: batchnorm}
  - {name: sps_lif, kind: plif, per_neuron: true}
  - {name: tok, kind: tokens}
  - {name: q_linear, kind: linear, out_features: 8}
  - {name: q_bn, kind: batchnorm}
  - {name: q_lif, kind: plif}
  - {name: k_linear, kind: linear, out_features: 8, input: tok}
  - {name: k_bn, kind: batchnorm}
  - {name: k_lif, kind: lif}
  - {name: v_linear, kind: linear, out_features: 8, input: tok}
  - {name: v_bn, kind: batchnorm}
  - {name: v_lif, kind: lif}
  - {name: st, kind: st_attention, inputs: [q_lif, k_lif, v_lif], heads: 2, scale: 0.25, window: 2, denoise: 0.5}
  - {name: st_lif, kind: lif, v_threshold: 0.5}
  - {name: gate, kind: sssa, inputs: [q_lif, v_lif], heads: 2, time_steps: 5}
  - {name: gate_integrate, kind: sssa, inputs: [q_lif, v_lif], time_steps: 6, gate: integrate}
  - {name: sum, kind: add, inputs: [st_lif, gate, gate_integrate]}
  - {name: mean, kind: mean_tokens}
  - {name: tm, kind: mean_time}
  - {name: head, kind: linear, out_features: 3}
"""


def test_new_kinds_in_one_network_dense_equals_event(tmp_path):
    spec = evsim.load_spec(write_spec(tmp_path, NET_SPEC))
    for seed, rate in [(0, 0.2), (1, 0.4)]:
        params = evsim.synthetic_weights(spec, seed=seed, target_rate=rate)
        net = evsim.load(spec, params)
        x = evsim.sample_input(spec, seed)
        dense_run, event_run = net.run(x), net.run(x, engine="event")
        for name in dense_run.spikes:
            assert np.array_equal(dense_run.spikes[name], event_run.spikes[name]), name
        for name in ("gate", "gate_integrate", "st_lif", "sps_lif"):
            assert 0 < dense_run.spikes[name].mean() < 1, name
        assert np.allclose(dense_run.output, event_run.output, rtol=1e-9, atol=1e-12)
        for name, stats in dense_run.stats.items():
            for field, counts in stats.counts.items():
                assert np.array_equal(counts, event_run.stats[name].counts[field]), (name, field)
        assert event_run.stats["st"].total("memory_reads") > 0


# -- the shipped specs --------------------------------------------------------------------------------

def test_shipped_specs_parameters_and_small_runs_dense_equals_event(tmp_path):
    cifar = evsim.load_spec("snn-vit-cifar10-2-384")
    assert cifar.param_count == 5_509_100          # paper 5.57 M: −1.1 % (see the spec's comment)
    dista = evsim.load_spec("dista-cifar10-4-384")
    assert dista.input.T == 6 and abs(dista.param_count / 1e6 - 9.32) < 0.01
    assert {dista.layers[n].kind for n in dista.layers} >= {"plif", "st_attention"}
    for name, extra in (("snn-vit-cifar10-2-384", "params: {depth: 1, D: 64}"),
                        ("dista-cifar10-4-384", "params: {depth: 1, D: 48, heads: 4}\ninput: {shape: [3, 16, 16], T: 6}")):
        spec = evsim.load_spec(write_spec(tmp_path, f'extends: "{ROOT}/models/{name}.yaml"\n{extra}\n', f"{name}.yaml"))
        net = evsim.load(spec, evsim.synthetic_weights(spec, seed=0, target_rate=0.2))
        x = evsim.sample_input(spec, 0)
        dense_run, event_run = net.run(x), net.run(x, engine="event")
        for layer in dense_run.spikes:
            assert np.array_equal(dense_run.spikes[layer], event_run.spikes[layer]), (name, layer)
        for layer, stats in dense_run.stats.items():
            for field, counts in stats.counts.items():
                assert np.array_equal(counts, event_run.stats[layer].counts[field]), (name, layer, field)
