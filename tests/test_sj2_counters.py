"""evsim's counts beside SpikingJelly 2.0's op_counter on the official-layout Spikformer
(evsim/importers/torch_spikformer.py), same weights and input. Runs only where SpikingJelly 2.0 is
installed (the separate venv of the README; the test extra pins 0.0.0.0.14):

    .venv-sj2/bin/python -m pytest tests/test_sj2_counters.py

Every synaptic layer falls under one named rule, and the rule's equality holds exactly:
    binary input (conv, linear)   SJ SynOps = evsim synaptic events (edge-exact both)
    integer input (residual sums) SJ SynOps = 0, SJ MACs = evsim dense MACs (SJ: not 0/1 → dense)
    analog input (first conv, head) SJ MACs = evsim dense MACs
    attention (spike × spike)     SJ bmm SynOps = evsim coincidences of QKᵀ + N·nnz(V) (SJ's second
                                  product: a non-binary score matrix times binary V)
Not compared (SJ counts them, evsim's exact convention does not price them as synaptic work):
BatchNorm and the neuron's own arithmetic (SJ ACs: native_batch_norm, add, sub, rsub), memory accesses.
"""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
op_counter = pytest.importorskip("spikingjelly.activation_based.op_counter")

import energy  # noqa: E402
import evsim  # noqa: E402
from energy.sj_counters import sj_rows  # noqa: E402
from evsim import load_spec  # noqa: E402
from evsim.importers.spikformer import export_state_dict  # noqa: E402
from evsim.importers.torch_spikformer import Spikformer  # noqa: E402
from evsim.kinds.attention import Attention  # noqa: E402

from conftest import MODELS, perturbed_weights, write_spec  # noqa: E402

aten = torch.ops.aten
SYNAPTIC_OPS = (aten.convolution.default, aten.mm.default, aten.addmm.default, aten.bmm.default)


def sj_by_layer(counter, name, ops=SYNAPTIC_OPS):
    """One counter's count on a module's scope (those of its aten ops), summed."""
    record = counter.get_counts().get(f"Spikformer.{name}", {})
    return sum(v for op, v in record.items() if op in ops)


def test_evsim_counts_equal_spikingjelly_2_counters(tmp_path):
    from spikingjelly.activation_based import functional
    dim, heads, depth, size = 64, 4, 1, 32
    spec = load_spec(write_spec(tmp_path, f"extends: {MODELS / 'spikformer-cifar10-4-384'}.yaml\n"
                                          f"input: {{shape: [3, {size}, {size}], T: 4, encoding: direct}}\n"
                                          f"params: {{depth: {depth}, D: {dim}, heads: {heads}}}\n", "s.yaml"))
    params = perturbed_weights(spec, 0, 0.15)
    model = Spikformer("cifar", dim, heads, depth, spec.shapes["head"][0], 3, size, 4).double().eval()
    model.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in export_state_dict(spec, params, "cifar").items()},
                          strict=True)
    x = evsim.sample_input(spec, seed=7)
    synops_counter, macs_counter = op_counter.SynOpCounter(), op_counter.MACCounter()
    functional.reset_net(model)
    with torch.no_grad(), op_counter.DispatchCounterMode([synops_counter, macs_counter]):
        logits = model(torch.from_numpy(x)[None]).numpy()[0]
    run = evsim.load(spec, params).run(x, engine="event")
    assert np.allclose(run.output, logits, rtol=1e-6)

    table = []
    for name, stats in run.stats.items():
        layer = spec.layers[name]
        if isinstance(layer, Attention):
            scope = name.rsplit(".", 1)[0]           # SJ: the matmuls run in the SSA module's own forward (bmm)
            v_spikes = int(run.spikes[layer.inputs[2]].sum())
            n_tokens = spec.in_shapes(name)[0][0]
            expected = stats.total("attention_coincidences") + n_tokens * v_spikes
            table.append((name, "attention: coincidences + N·nnz(V)", expected,
                          sj_by_layer(synops_counter, scope, (aten.bmm.default,))))
        elif not stats.total("dense_macs"):
            continue
        elif stats.input_values == "binary":
            table.append((name, "binary input: synaptic events = SynOps", stats.total("synaptic_events"),
                          sj_by_layer(synops_counter, name)))
        else:   # integer (residual sums) or analog (image, averaged features): SJ charges dense MACs
            assert sj_by_layer(synops_counter, name) == 0, name
            table.append((name, f"{stats.input_values} input: dense MACs = MACs", stats.total("dense_macs"),
                          sj_by_layer(macs_counter, name)))
    unexplained = [row for row in table if row[2] != row[3]]
    assert not unexplained, unexplained
    rules = {rule.split(":")[0] for _, rule, _, _ in table}
    assert rules == {"binary input", "integer input", "analog input", "attention"}
    assert len(table) == sum(1 for s in run.stats.values() if s.total("dense_macs"))
    # the --format sj columns: SJ's own SynOps and MACs wherever the definitions agree (attention aside)
    for name, synops, macs, _ in sj_rows(energy.estimate(run), run.stats):
        if not isinstance(spec.layers[name], Attention):
            assert (synops, macs) == (sj_by_layer(synops_counter, name), sj_by_layer(macs_counter, name)), name
