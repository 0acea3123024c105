"""NIR interchange against sinabs 3.1.3 (``sinabs.nir.to_nir``): networks built in sinabs,
exported with its own exporter, imported with ``evsim import nir --from sinabs``, give the
spikes of sinabs' own forward pass, layer by layer, in float64. sinabs pins nir ≤ 1.0.4, so it
lives in its own venv (README, "bringing a model from each library"):

    .venv-sinabs/bin/python -m pytest tests/test_nir_sinabs.py

Its files are NIR 1.0.4; ``EVSIM_NIR_1_0_8_PYTHON`` (CI: the sj2 venv's python, nir 1.0.8)
names a Python that imports the same files with nir 1.0.8's reader, which must give the same
network. sinabs' neurons here use SingleSpike (one spike a step): its default MultiSpike emits
several, which no evsim neuron does, and the file does not record which one was used.
"""
import os
import subprocess
import sys

import numpy as np
import pytest

import evsim
from evsim.cli import main

torch = pytest.importorskip("torch")
nir = pytest.importorskip("nir")
sinabs_nir = pytest.importorskip("sinabs.nir", reason="needs sinabs 3.1.3 (its own venv: pip install -e '.[sinabs]')")
import sinabs.layers as sl  # noqa: E402
from sinabs.activation import SingleSpike  # noqa: E402

T = 24


def frames(shape, seed=0, p=0.3):
    return (np.random.default_rng(seed).random((T, *shape)) < p).astype(np.float64)


def writable(graph, shapes):
    """sinabs' exporter leaves torch tensors, 0-d scalars and unset shapes (Conv2d.input_shape,
    SumPool2d's and Flatten's input_type) that nir.write cannot store: NumPy arrays, 1-d, and
    the per-step shapes ``shapes`` ({node: input shape}, as the sample gave them). The values
    are sinabs' own."""
    for name, node in graph.nodes.items():
        for key, value in list(vars(node).items()):
            if torch.is_tensor(value):
                value = value.detach().numpy()
                setattr(node, key, value)
            if isinstance(value, (np.ndarray, np.generic)) and np.ndim(value) == 0:
                setattr(node, key, np.reshape(value, 1))
        if name in shapes:
            if isinstance(node, nir.Conv2d):
                node.input_shape = tuple(shapes[name][1:])
                node.__post_init__()
            node.input_type = {"input": np.array(shapes[name])}
            node.output_type = {"output": np.array([])} if node.output_type.get("output") is None else node.output_type
    return graph


def sinabs_forward(net, x, record):
    """sinabs' own forward pass in float64: the Squeeze layers take [batch·T, ...] and run the
    T steps; returns {module index: spikes [T, ...]}. sinabs' SingleSpike emits float32 0/1
    whatever the network's dtype: they are cast back to float64 (exactly) before each layer."""
    net = net.double()
    out = {}
    hooks = [net[i].register_forward_hook(lambda m, args, y, i=i: out.__setitem__(i, y.detach().numpy().copy()))
             for i in record]
    hooks += [m.register_forward_pre_hook(lambda m, args: tuple(a.double() for a in args)) for m in net]
    for module in net.modules():
        if hasattr(module, "reset_states"):
            module.reset_states()
    with torch.no_grad():
        net(torch.from_numpy(x))
    for hook in hooks:
        hook.remove()
    return out


def exported(net, sample_shape, shapes, tmp_path):
    graph = sinabs_nir.to_nir(net, torch.zeros(1, *sample_shape))   # float32, as sinabs runs
    path = tmp_path / "sinabs.nir"
    nir.write(str(path), writable(graph, shapes))
    for module in net.modules():   # to_nir ran the sample through: start the forward pass afresh
        if hasattr(module, "reset_states"):
            module.reset_states()
    return path


def evsim_import(path, out, T):
    assert main(["import", "nir", str(path), "--from", "sinabs", "--T", str(T), "-o", str(out)]) == 0
    return evsim.load(out / "model.yaml", out / "weights.safetensors")


def assert_same_spikes(network, x, reference):
    for engine in ("dense", "event"):
        run = network.run(x, engine=engine)
        for name, spikes in reference.items():
            assert np.array_equal(run.spikes[name], spikes), (engine, name, np.abs(run.spikes[name] - spikes).sum())
    for name, spikes in reference.items():
        assert 0 < spikes.sum() < spikes.size, f"layer {name} must fire, but not always"


def conv_iaf_sumpool_linear_lif():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(2, 4, 3, padding=1, bias=False),
                              sl.IAFSqueeze(batch_size=1, spike_fn=SingleSpike, spike_threshold=0.75),
                              sl.SumPool2d(2), torch.nn.Flatten(), torch.nn.Linear(4 * 3 * 3, 10),
                              sl.LIFSqueeze(tau_mem=5.0, batch_size=1, spike_fn=SingleSpike))
    with torch.no_grad():
        net[0].weight.mul_(3.0)
        net[4].weight.mul_(8.0)
    return net


SHAPES = {"0": [2, 6, 6], "2": [4, 6, 6], "3": [4, 3, 3]}


def test_sinabs_conv_iaf_sumpool_linear_lif(tmp_path):
    """IAF → if (v += x, v ≥ θ, subtract θ); LIF with τ = 5 steps → exp_lif (α = e^{−1/5},
    input × (1 − α): sinabs' norm_input default)."""
    net = conv_iaf_sumpool_linear_lif()
    path = exported(net, (2, 6, 6), SHAPES, tmp_path)
    x = frames((2, 6, 6))
    network = evsim_import(path, tmp_path / "out", T)
    assert [layer.kind for layer in network.spec.layers.values() if layer.spiking] == ["if", "exp_lif"]
    reference = sinabs_forward(net, x, (1, 5))
    assert_same_spikes(network, x, {"1": reference[1], "5": reference[5]})


def test_sinabs_lif_per_neuron_tau_no_bias(tmp_path):
    """A LIF with one τ and one θ per neuron (sinabs stores the tensors; evsim takes them per
    neuron from the weights file; sinabs' exporter asserts τ and θ have one shape, so a per-neuron
    τ needs a per-neuron θ) after a Linear without bias (sinabs writes an Affine, zero bias)."""
    torch.manual_seed(1)
    taus = torch.tensor(np.linspace(2.0, 9.0, 16), dtype=torch.float32)
    thresholds = torch.tensor(np.linspace(0.5, 1.25, 16), dtype=torch.float32)
    net = torch.nn.Sequential(torch.nn.Linear(12, 16, bias=False),
                              sl.LIFSqueeze(tau_mem=taus, batch_size=1, spike_fn=SingleSpike, spike_threshold=thresholds),
                              torch.nn.Linear(16, 6), sl.LIFSqueeze(tau_mem=3.0, batch_size=1, spike_fn=SingleSpike,
                                                                    spike_threshold=0.5))
    with torch.no_grad():
        net[0].weight.mul_(8.0)
        net[2].weight.mul_(12.0)
    path = exported(net, (12,), {}, tmp_path)
    x = np.random.default_rng(1).uniform(-0.25, 1.0, (T, 12))
    network = evsim_import(path, tmp_path / "out", T)
    assert network.spec.layers["1"].per_neuron == ("tau_mem", "v_threshold")
    reference = sinabs_forward(net, x, (1, 3))
    assert_same_spikes(network, x, {"1": reference[1], "3": reference[3]})


def test_nir_1_0_4_file_reads_the_same_with_nir_1_0_8(tmp_path):
    """A file sinabs wrote with nir 1.0.4, imported by a Python with nir 1.0.8 (whose reader fills
    the v_reset 1.0.4 lacks with 0; --from sinabs ignores it): the same spec and spikes."""
    python = os.environ.get("EVSIM_NIR_1_0_8_PYTHON")
    if not python:
        pytest.skip("set EVSIM_NIR_1_0_8_PYTHON to a Python with nir 1.0.8 and evsim (CI: .venv-sj2/bin/python)")
    version = subprocess.run([python, "-c", "import nir; print(nir.__version__)"], capture_output=True, text=True, check=True)
    assert version.stdout.strip() == "1.0.8" and nir.__version__ == "1.0.4"
    net = conv_iaf_sumpool_linear_lif()
    path = exported(net, (2, 6, 6), SHAPES, tmp_path)
    evsim_import(path, tmp_path / "here", T)
    cmd = ("import sys; from evsim.cli import main; "
           f"sys.exit(main(['import', 'nir', {str(path)!r}, '--from', 'sinabs', '--T', '{T}', '-o', {str(tmp_path / 'there')!r}]))")
    subprocess.run([python, "-c", cmd], check=True, cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                   env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    assert (tmp_path / "there" / "model.yaml").read_text() == (tmp_path / "here" / "model.yaml").read_text()
    there = evsim.load(tmp_path / "there" / "model.yaml", tmp_path / "there" / "weights.safetensors")
    x = frames((2, 6, 6), seed=5)
    reference = sinabs_forward(net, x, (1, 5))
    assert_same_spikes(there, x, {"1": reference[1], "5": reference[5]})
    assert sys.executable != python
