"""NIR interchange against the real libraries: each test builds a small network in the
library, exports it with the library's own exporter, imports the file into evsim with
``--from`` that library and compares spikes, layer by layer, with the library's own forward
pass on fixed inputs — in float64 (the libraries run float64 here; weights and decay
factors are stored float32 by the exporters and chosen dyadic, so they survive the trip
exactly). Skipped where the libraries are not installed (the ``interop`` extra)."""
import numpy as np
import pytest

import evsim
from evsim.importers.nir import import_nir

nir = pytest.importorskip("nir")
torch = pytest.importorskip("torch")

T = 24


def frames(shape, seed=0, p=0.3):
    return (np.random.default_rng(seed).random((T, *shape)) < p).astype(np.float64)


def writable(graph):
    """nir.write cannot store 0-d arrays (snnTorch writes scalar β, τ, θ as such): make them 1-d.
    The values are the library's own."""
    for node in graph.nodes.values():
        if isinstance(node, nir.NIRGraph):
            writable(node)
            continue
        for key, value in list(getattr(node, "__dict__", {}).items()):
            if torch.is_tensor(value):  # Norse stores torch tensors; nir.write stores NumPy arrays
                value = value.detach().numpy()
                setattr(node, key, value)
            if isinstance(value, (np.ndarray, np.generic)) and np.ndim(value) == 0:
                setattr(node, key, np.reshape(value, 1))
    return graph


def evsim_runs(graph, tmp_path, source, x, **options):
    path = tmp_path / "graph.nir"
    nir.write(str(path), writable(graph))
    import_nir(path, tmp_path / "out", source=source, T=x.shape[0], **options)
    network = evsim.load(tmp_path / "out" / "model.yaml", tmp_path / "out" / "weights.safetensors")
    return {engine: network.run(x, engine=engine) for engine in ("dense", "event")}


def assert_same_spikes(runs, reference):
    """Every spiking layer of the library equals evsim's, in both engines."""
    for layer, spikes in reference.items():
        for engine, run in runs.items():
            assert np.array_equal(run.spikes[layer], spikes), (engine, layer, np.abs(run.spikes[layer] - spikes).sum())
        assert 0 < spikes.sum() < spikes.size, f"layer {layer} must fire, but not always"


# -- snnTorch ---------------------------------------------------------------------------------

def snntorch_graph(net, sample):
    """snnTorch's exporter (export_nir.export_to_nir) minus its final nir_graph.infer_types(),
    which fails on a Conv2d whose input_shape snnTorch leaves unset."""
    nirtorch = pytest.importorskip("nirtorch")
    snn = pytest.importorskip("snntorch")
    from snntorch.export_nir import _extract_snntorch_module
    return nirtorch.extract_nir_graph(net, _extract_snntorch_module, sample, model_name="snntorch",
                                      ignore_submodules_of=[snn.RLeaky, snn.RSynaptic])


def snntorch_forward(net, x, record):
    """The library's own forward pass, step by step in float64 (snnTorch's spikes come out as
    float32 0/1: cast back, exactly); returns {module index: spikes [T, ...]}."""
    for m in net.modules():
        if hasattr(m, "reset_mem"):
            m.reset_mem()
    net = net.double()
    out = {i: [] for i in record}
    with torch.no_grad():
        for t in range(x.shape[0]):
            h = torch.from_numpy(x[t:t + 1])
            for i, m in enumerate(net):
                h = m(h.double())
                h = h[0] if isinstance(h, tuple) else h
                if i in out:
                    out[i].append(h[0].numpy().copy())
    return {str(i): np.array(v) for i, v in out.items()}


def test_snntorch_conv_leaky_flatten_affine_leaky(tmp_path):
    snn = pytest.importorskip("snntorch")
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(2, 4, 3, padding=1), snn.Leaky(beta=0.75, init_hidden=True),
                              torch.nn.Flatten(), torch.nn.Linear(4 * 6 * 6, 10), snn.Leaky(beta=0.875, init_hidden=True))
    with torch.no_grad():
        net[0].weight.mul_(3.0)
        net[3].weight.mul_(3.0)
    graph = snntorch_graph(net, torch.zeros(1, 2, 6, 6))
    # snnTorch leaves Conv2d.input_shape and Flatten.input_type unset, and nir.write needs them
    graph.nodes["0"].input_shape = (6, 6)
    graph.nodes["0"].__post_init__()
    graph.nodes["2"].input_type = {"input": np.array([4, 6, 6])}
    graph.nodes["2"].__post_init__()
    x = frames((2, 6, 6))
    runs = evsim_runs(graph, tmp_path, "snntorch", x)
    assert_same_spikes(runs, snntorch_forward(net, x, (1, 4)))


def test_snntorch_synaptic_cuba_lif(tmp_path):
    snn = pytest.importorskip("snntorch")
    torch.manual_seed(1)
    net = torch.nn.Sequential(torch.nn.Linear(12, 16), snn.Synaptic(alpha=0.5, beta=0.75, init_hidden=True),
                              torch.nn.Linear(16, 8), snn.Synaptic(alpha=0.75, beta=0.5, init_hidden=True))
    graph = snntorch_graph(net, torch.zeros(1, 12))
    assert {type(n).__name__ for n in graph.nodes.values()} >= {"CubaLIF", "Affine"}
    x = np.random.default_rng(1).uniform(-0.2, 0.6, (T, 12))
    runs = evsim_runs(graph, tmp_path, "snntorch", x)
    assert_same_spikes(runs, snntorch_forward(net, x, (1, 3)))


def test_snntorch_recurrent_rleaky(tmp_path):
    """RLeaky exports a subgraph with a recurrent edge (lif → w_rec → lif); evsim reads the
    edge that closes the cycle one step late — as RLeaky applies its recurrent weights to the
    previous step's spikes — and runs the cycle step-major."""
    snn = pytest.importorskip("snntorch")
    torch.manual_seed(2)
    net = torch.nn.Sequential(torch.nn.Linear(10, 12), snn.RLeaky(beta=0.75, linear_features=12, init_hidden=True),
                              torch.nn.Linear(12, 6), snn.Leaky(beta=0.5, init_hidden=True))
    with torch.no_grad():
        net[0].weight.mul_(2.0)
        net[1].recurrent.weight.mul_(2.0)
        net[2].weight.mul_(5.0)
    graph = snntorch_graph(net, torch.zeros(1, 10))
    assert ("1.w_rec", "1.lif") in graph.edges  # nirtorch 2.6 inlines the RLeaky subgraph: a cycle
    x = frames((10,), seed=2, p=0.4)
    runs = evsim_runs(graph, tmp_path, "snntorch", x)
    spec = evsim.load(tmp_path / "out" / "model.yaml").spec
    assert spec.recurrent and set(spec.recurrent[0]) >= {"1.lif", "1.w_rec"}
    # RLeaky feeds its float32 0/1 spikes to its (float64) recurrent Linear: cast them, exactly
    net[1].recurrent.register_forward_pre_hook(lambda module, args: tuple(a.double() for a in args))
    reference = snntorch_forward(net, x, (1, 3))
    assert_same_spikes(runs, {"1.lif": reference["1"], "3": reference["3"]})


# -- Norse ------------------------------------------------------------------------------------

def test_norse_conv_lifbox_linear_lifbox(tmp_path):
    """Norse exports LIFBoxCell as LIF with τ = dt·τ_mem (dt = 10⁻³) and writes no Flatten:
    ``--from norse`` undoes the first, the importer inserts the second."""
    norse = pytest.importorskip("norse.torch")
    from norse.torch.utils.export_nir import to_nir
    torch.manual_seed(3)
    conv, fc = torch.nn.Conv2d(2, 4, 3), torch.nn.Linear(4 * 4 * 4, 10)
    with torch.no_grad():
        conv.weight.mul_(30.0)
        fc.weight.mul_(40.0)
    lif1, lif2 = norse.LIFBoxCell(), norse.LIFBoxCell()
    model = norse.SequentialState(conv, lif1, torch.nn.Flatten(), fc, lif2)
    graph = to_nir(model, torch.zeros(1, 2, 6, 6))
    # Norse has no NIR node for Flatten and leaves None in its place: drop it (a graph without
    # the Flatten, which the importer puts back) — and leaves Conv2d.input_shape unset
    gap = next(k for k, v in graph.nodes.items() if v is None)
    before, after = [a for a, b in graph.edges if b == gap][0], [b for a, b in graph.edges if a == gap][0]
    graph.nodes.pop(gap)
    graph.edges = [e for e in graph.edges if gap not in e] + [(before, after)]
    conv_name = next(k for k, v in graph.nodes.items() if isinstance(v, nir.Conv2d))
    # Norse leaves Conv2d.input_shape unset, and nir.write needs it
    graph.nodes[conv_name].input_shape = (6, 6)
    graph.nodes[conv_name].__post_init__()
    x = frames((2, 6, 6), seed=3, p=0.5)
    runs = evsim_runs(graph, tmp_path, "norse", x, input_shape=[2, 6, 6])
    states = [None, None]
    out = {0: [], 1: []}
    with torch.no_grad():
        conv64, fc64 = conv.double(), fc.double()
        for t in range(T):
            z, states[0] = lif1(conv64(torch.from_numpy(x[t:t + 1])), states[0])
            out[0].append(z[0].numpy().copy())
            z, states[1] = lif2(fc64(z.reshape(1, -1).double()), states[1])
            out[1].append(z[0].numpy().copy())
    names = [n for n, layer in evsim.load(tmp_path / "out" / "model.yaml").spec.layers.items() if layer.spiking]
    assert_same_spikes(runs, {names[0]: np.array(out[0]), names[1]: np.array(out[1])})
