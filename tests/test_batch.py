"""Throughput mode (several inputs through the event engine together): every input's Run equals
its own single run — output, spikes, every count, activity and the path each layer took — in
float64 and float32, strict and mixed execution, for every layer kind and every model family;
recurrent specs fall back to one input at a time."""
import numpy as np
import pytest
from test_event_engine import shrunk
from test_recurrent import RECURRENT

import evsim
from evsim import load_spec
from evsim.engines import event
from evsim.engines.walk import batchable
from evsim.spec import LAYER_KINDS as KINDS

from conftest import perturbed_weights, write_spec


def assert_identical(single, batched):
    assert np.array_equal(single.output, batched.output)
    assert single.spikes.keys() == batched.spikes.keys()
    for name, spikes in single.spikes.items():
        assert np.array_equal(spikes, batched.spikes[name]), name
    assert single.stats.keys() == batched.stats.keys()
    for name, stats in single.stats.items():
        assert stats.steps == batched.stats[name].steps, name
        for field, counts in stats.counts.items():
            assert np.array_equal(counts, batched.stats[name].counts[field]), (name, field)
    assert single.activity == batched.activity
    assert single.execution == batched.execution


ALL = [(np.float64, False), (np.float64, True), (np.float32, False), (np.float32, True)]


def check_batch(net, inputs, combos=ALL):
    for dtype, strict in combos:
        plan = net.plan("event", dtype)
        singles = [event.run(plan, x, strict) for x in inputs]
        batched = event.run_batch(plan, inputs, strict)
        assert len(batched) == len(inputs)
        for single, run in zip(singles, batched):
            assert_identical(single, run)


def test_every_layer_kind_batched_equals_one_at_a_time(tmp_path, every_kind_path):
    for order in ("qk_first", "kv_first"):
        spec = load_spec(write_spec(tmp_path, every_kind_path.read_text().replace("order: qk_first", f"order: {order}")))
        assert batchable(spec)
        # rates far apart, so that some inputs take the BLAS path on a layer and others scatter
        net = evsim.load(spec, perturbed_weights(spec, 1, 0.2))
        inputs = [evsim.sample_input(spec, seed) * gain for seed, gain in [(0, 0.1), (1, 4.0), (2, 1.0)]]
        check_batch(net, inputs)


def test_an_input_can_take_blas_while_its_batch_mates_scatter(tmp_path, every_kind_path):
    """The dense-input choice is per input: a batch mixing sparse and dense inputs gives each the
    path its own run takes (so float32 rounding cannot differ)."""
    spec = load_spec(write_spec(tmp_path, every_kind_path.read_text()))
    net = evsim.load(spec, perturbed_weights(spec, 1, 0.2))
    inputs = [evsim.sample_input(spec, 0) * 0.1, evsim.sample_input(spec, 1) * 4.0]
    runs = event.run_batch(net.plan("event", np.float32), inputs)
    paths = [{n for n, p in r.execution.items() if p == "dense"} for r in runs]
    assert paths[0] != paths[1]


FAMILIES = [("spikformer-cifar10-2-384", None, 1, ""), ("qkformer-cifar10-4-384", None, 2, ""),
            ("sdt-cifar10-2-256", None, 1, ""), ("spikingformer-cifar10-4-256", None, 1, ""),
            ("dista-cifar10-4-384", None, 1, ""), ("snn-vit-cifar10-2-384", None, 1, ""),
            ("at-snn-cifar100-4-384", None, 1, "halting: 1, gamma: 10, beta: 5, epsilon: 0.01"),
            ("at-snn-cifar100-4-384", None, 1, "merging: 1, merge_r: 4")]


@pytest.mark.parametrize("model,size,depth,extra", FAMILIES)
def test_model_families_batched_equal_one_at_a_time(tmp_path, model, size, depth, extra):
    spec = shrunk(tmp_path, model, size, depth)
    if extra:
        spec = load_spec(write_spec(tmp_path, f"extends: {spec.path}\nparams: {{{extra}}}\n", "extra.yaml"))
    net = evsim.load(spec, evsim.synthetic_weights(spec, seed=2, target_rate=0.15))
    # mixed execution in float64, strict in float32 (every kind is checked in all four on every_kind.yaml)
    check_batch(net, [evsim.sample_input(spec, seed) for seed in range(2)], [(np.float64, False), (np.float32, True)])


def test_recurrent_specs_run_one_input_at_a_time(tmp_path):
    spec = load_spec(write_spec(tmp_path, RECURRENT))
    assert not batchable(spec)
    net = evsim.load(spec, perturbed_weights(spec, 0, 0.3))
    check_batch(net, [np.random.default_rng(s).random((30, 6)) for s in range(3)])


def test_run_many_groups_inputs_into_batches(tmp_path):
    spec = shrunk(tmp_path, "spikformer-cifar10-2-384", None, 1)
    net = evsim.load(spec, evsim.synthetic_weights(spec, seed=0, target_rate=0.1))
    inputs = [evsim.sample_input(spec, seed) for seed in range(3)]
    one = net.run_many(inputs, engine="event", progress=False)
    for batch in (2, 5):   # uneven groups, a batch larger than the inputs
        for single, run in zip(one, net.run_many(inputs, engine="event", progress=False, batch=batch), strict=True):
            assert_identical(single, run)
    dense = net.run_many(inputs[:2], engine="dense", progress=False, batch=2)   # no throughput mode: one by one
    assert np.array_equal(dense[1].output, net.run(inputs[1], engine="dense").output)
    with pytest.raises(evsim.EvsimError, match="batch"):
        net.run_many(inputs, engine="event", batch=0)


def test_step_local_kinds_are_stateless():
    """A kind declared step-local gets the steps of several inputs in one call: it must keep no
    state between steps (neurons, LCA, halting and token merging are not step-local)."""
    for name in ("lif", "if", "lca", "halting", "token_merge", "masked_lif", "mean_time", "st_attention", "sssa"):
        if name in KINDS:
            assert not KINDS[name].step_local, name
    for name in ("linear", "conv2d", "attention", "maxpool2d", "add", "batchnorm"):
        assert KINDS[name].step_local, name


def test_vit_lca_batched_equals_one_at_a_time():
    """ViT-LCA (a stateful sparse coder per step) on its shipped dictionary and test digits."""
    from conftest import MODELS
    net = evsim.load("vit-lca-digits", MODELS / "vit-lca-digits.npz")
    check_batch(net, list(np.load(MODELS / "vit-lca-digits-test.npz")["inputs"][:3].astype(float)))
