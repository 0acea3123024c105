"""NIR interchange against SpikingJelly 2.0 (``spikingjelly.activation_based.nir_exchange``):
networks built in SpikingJelly, exported with its own ``export_to_nir``, imported with
``evsim import nir --from spikingjelly``, give the spikes of SpikingJelly's own forward pass,
layer by layer, in float64 (SpikingJelly runs its reference LIF/IF step in float64); and evsim
networks exported with ``evsim export nir --for spikingjelly`` and read by SpikingJelly's own
``import_from_nir`` give evsim's spikes. Runs only where SpikingJelly 2.0 is installed (its own
venv: the test extra pins 0.0.0.0.14, which has no NIR exchange):

    .venv-sj2/bin/python -m pytest tests/test_nir_sj2.py
"""
import numpy as np
import pytest

import evsim
from evsim.cli import main
from evsim.importers.nir import NIRError, export_nir

from conftest import write_spec

torch = pytest.importorskip("torch")
nir = pytest.importorskip("nir")
nir_exchange = pytest.importorskip("spikingjelly.activation_based.nir_exchange",
                                   reason="needs SpikingJelly 2.0 (its own venv: pip install -e '.[sj2]')")
from spikingjelly.activation_based import functional, layer, neuron  # noqa: E402

T = 24


def frames(shape, seed=0, p=0.3):
    return (np.random.default_rng(seed).random((T, *shape)) < p).astype(np.float64)


def sj_forward(net, x, record):
    """SpikingJelly's own forward pass, step by step (single-step mode) in float64; returns
    {module index: spikes [T, ...]} of the modules in ``record``."""
    out = {i: [] for i in record}
    hooks = [net[i].register_forward_hook(lambda m, args, y, i=i: out[i].append(y[0].numpy().copy())) for i in record]
    functional.reset_net(net)
    with torch.no_grad():
        for t in range(x.shape[0]):
            net(torch.from_numpy(x[t:t + 1]))
    for hook in hooks:
        hook.remove()
    return {i: np.array(v) for i, v in out.items()}


def evsim_import(net, sample, x, tmp_path):
    """SpikingJelly's exporter writes the file; ``evsim import nir --from spikingjelly`` reads it."""
    nir_exchange.export_to_nir(net, torch.from_numpy(sample), save_path=tmp_path / "sj.nir")
    assert main(["import", "nir", str(tmp_path / "sj.nir"), "--from", "spikingjelly", "--T", str(x.shape[0]),
                 "-o", str(tmp_path / "out")]) == 0
    return evsim.load(tmp_path / "out" / "model.yaml", tmp_path / "out" / "weights.safetensors")


def assert_same_spikes(network, x, reference):
    """{evsim layer: SpikingJelly's spikes}: equal in the dense and event engines, and each
    layer fires, but not always."""
    for engine in ("dense", "event"):
        run = network.run(x, engine=engine)
        for name, spikes in reference.items():
            assert np.array_equal(run.spikes[name], spikes), (engine, name, np.abs(run.spikes[name] - spikes).sum())
    for name, spikes in reference.items():
        assert 0 < spikes.sum() < spikes.size, f"layer {name} must fire, but not always"


def scaled(make, gains, seed):
    """``make()`` built under a fixed seed, in float64, its layers' weights multiplied by ``gains``."""
    torch.manual_seed(seed)
    net = make().double()
    with torch.no_grad():
        for i, gain in gains.items():
            net[i].weight.mul_(gain)
    return net


# -- SpikingJelly → evsim -------------------------------------------------------------------

def test_sj_conv_lif_flatten_linear_lif(tmp_path):
    """LIFNode in both of SpikingJelly's forms: decay_input (R = 1 in the file) with τ = 2.7
    (2.7·10⁻⁴/10⁻⁴ is 2.7000000000000006: the importer recovers 2.7), and input not decayed (R = τ)
    with a reset to −0.25 (V_leak = V_reset)."""
    net = scaled(lambda: torch.nn.Sequential(layer.Conv2d(2, 4, 3, padding=1), neuron.LIFNode(tau=2.7, v_threshold=0.75),
                                     layer.Flatten(), layer.Linear(4 * 6 * 6, 10),
                                     neuron.LIFNode(tau=4.0, decay_input=False, v_reset=-0.25)), {0: 10.0, 3: 6.0}, 0)
    x = frames((2, 6, 6))
    network = evsim_import(net, x[:1], x, tmp_path)
    lifs = {name: layer.kind for name, layer in network.spec.layers.items() if layer.spiking}
    assert list(lifs.values()) == ["lif", "lif"]
    first, second = (network.spec.layers[name] for name in lifs)
    assert (first.tau, first.decay_input, second.tau, second.decay_input, second.v_reset) == (2.7, True, 4.0, False, -0.25)
    reference = sj_forward(net, x, (1, 4))
    assert_same_spikes(network, x, dict(zip(lifs, (reference[1], reference[4]))))


def test_sj_if_conv_avgpool_linear(tmp_path):
    """IFNode (exported as IF with R = 1/dt) fires on v ≥ θ — not NIR's v > θ — and integrates
    its input with gain 1; the conv has no bias, the pooling is an AvgPool2d."""
    net = scaled(lambda: torch.nn.Sequential(layer.Conv2d(1, 3, 3, bias=False), neuron.IFNode(v_threshold=0.5),
                                     layer.AvgPool2d(2), layer.Flatten(), layer.Linear(3 * 3 * 3, 5),
                                     neuron.IFNode(v_threshold=1.0, v_reset=0.125)), {0: 2.0, 4: 3.0}, 1)
    x = frames((1, 8, 8), seed=1, p=0.4)
    network = evsim_import(net, x[:1], x, tmp_path)
    ifs = [name for name, layer in network.spec.layers.items() if layer.spiking]
    assert [network.spec.layers[n].kind for n in ifs] == ["if", "if"]
    reference = sj_forward(net, x, (1, 5))
    assert_same_spikes(network, x, {ifs[0]: reference[1], ifs[1]: reference[5]})


def test_sj_parametric_lif(tmp_path):
    """ParametricLIFNode exports its learned τ = 1/sigmoid(w) as a LIF; with SpikingJelly's
    initial τ = 2 (w = 0, sigmoid = 1/2) its ×sigmoid(w) and evsim's ÷τ agree bit for bit."""
    net = scaled(lambda: torch.nn.Sequential(layer.Linear(12, 16), neuron.ParametricLIFNode(init_tau=2.0),
                                     layer.Linear(16, 6), neuron.ParametricLIFNode(init_tau=2.0, decay_input=False)),
                 {0: 8.0, 2: 5.0}, 2)
    x = np.random.default_rng(2).uniform(-0.25, 1.0, (T, 12))
    network = evsim_import(net, x[:1], x, tmp_path)
    names = [name for name, layer in network.spec.layers.items() if layer.spiking]
    reference = sj_forward(net, x, (1, 3))
    assert_same_spikes(network, x, {names[0]: reference[1], names[1]: reference[3]})


def test_sj_cuba_lif(tmp_path):
    """CUBALIFNode exports as CubaLIF with τ = dt/(1 − decay); the importer recovers the decay
    factors (0.3, not 1 − dt/(dt/0.7) = 0.30000000000000004) → cuba_lif_decay."""
    net = scaled(lambda: torch.nn.Sequential(layer.Linear(10, 12), neuron.CUBALIFNode(c_decay=0.3, v_decay=0.6),
                                             layer.Linear(12, 6), neuron.CUBALIFNode(v_threshold=1.0, v_reset=-0.125)),
                 {0: 2.0, 2: 2.0}, 3)
    x = frames((10,), seed=3, p=0.4)
    network = evsim_import(net, x[:1], x, tmp_path)
    names = [name for name, layer in network.spec.layers.items() if layer.spiking]
    first = network.spec.layers[names[0]]
    assert (first.kind, first.c_decay, first.v_decay) == ("cuba_lif_decay", 0.3, 0.6)
    reference = sj_forward(net, x, (1, 3))
    assert_same_spikes(network, x, {names[0]: reference[1], names[1]: reference[3]})


def test_sj_soft_reset_is_refused_by_sj_itself():
    """SpikingJelly's exporter refuses a soft-reset LIF (NIR has no soft reset): nothing reaches evsim."""
    net = torch.nn.Sequential(layer.Linear(4, 3), neuron.LIFNode(v_reset=None)).double()
    with pytest.raises(NotImplementedError, match="soft reset"):
        nir_exchange.export_to_nir(net, torch.zeros(1, 4, dtype=torch.float64))


# -- evsim → SpikingJelly -------------------------------------------------------------------

SPEC = """
input: {shape: [2, 6, 6], T: 24, encoding: frames}
layers:
  - {name: conv, kind: conv2d, out_channels: 4, kernel_size: 3, padding: 1}
  - {name: lif1, kind: lif, tau: 3.0, v_threshold: 0.75}
  - {name: pool, kind: avgpool2d, kernel_size: 2}
  - {name: flat, kind: flatten}
  - {name: fc, kind: linear, out_features: 8}
  - {name: lif2, kind: lif, tau: 4.0, decay_input: false, v_reset: -0.25}
  - {name: fc2, kind: linear, out_features: 5, bias: false}
  - {name: if3, kind: if, v_threshold: 0.5}
"""


def evsim_network(tmp_path, text, seed=0):
    spec = evsim.load_spec(write_spec(tmp_path, text))
    rng = np.random.default_rng(seed)
    params = {name: {k: rng.normal(0, 2.5 / np.sqrt(np.prod(s[1:]) if len(s) > 1 else 10), s) for k, s in shapes.items()}
              for name, shapes in spec.parameter_shapes().items()}
    return evsim.load(spec, params)


def sj_import_forward(path, x, names):
    """SpikingJelly's own import_from_nir (float64) and its forward pass, carrying its state
    from step to step; returns {node name: spikes [T, ...]} from hooks on the neuron modules."""
    gm = nir_exchange.import_from_nir(str(path), dtype=torch.float64)
    out = {name: [] for name in names}
    modules = dict(gm.named_modules())
    for name in names:
        modules[name].register_forward_hook(lambda m, args, y, name=name: out[name].append(y[0][0].numpy().copy()))
    state = None
    with torch.no_grad():
        for t in range(x.shape[0]):
            _, state = gm(torch.from_numpy(x[t:t + 1]), state)
    return {name: np.array(v) for name, v in out.items()}


def test_evsim_export_for_spikingjelly_runs_in_spikingjelly(tmp_path):
    network = evsim_network(tmp_path, SPEC)
    path = tmp_path / "evsim.nir"
    export_nir(network, path, target="spikingjelly")
    x = frames((2, 6, 6), seed=4, p=0.4)
    reference = sj_import_forward(path, x, ("lif1", "lif2", "if3"))
    assert_same_spikes(network, x, reference)


def test_evsim_cuba_lif_decay_for_spikingjelly(tmp_path):
    network = evsim_network(tmp_path, """
input: {shape: [10], T: 24, encoding: frames}
layers:
  - {name: fc1, kind: linear, out_features: 12}
  - {name: cuba1, kind: cuba_lif_decay, c_decay: 0.5, v_decay: 0.75}
  - {name: fc2, kind: linear, out_features: 6}
  - {name: cuba2, kind: cuba_lif_decay, c_decay: 0.25, v_decay: 0.5, v_threshold: 1.0, v_reset: -0.125}
""", seed=5)
    export_nir(network, tmp_path / "evsim.nir", target="spikingjelly")
    x = frames((10,), seed=5, p=0.4)
    assert_same_spikes(network, x, sj_import_forward(tmp_path / "evsim.nir", x, ("cuba1", "cuba2")))


def test_evsim_export_for_spikingjelly_refuses_what_it_cannot_run(tmp_path):
    text = SPEC.replace("{name: if3, kind: if, v_threshold: 0.5}", "{name: if3, kind: if, v_threshold: 0.5, strict: true}")
    with pytest.raises(NIRError, match="if3.*≥"):
        export_nir(evsim_network(tmp_path, text), target="spikingjelly")
    text = SPEC.replace("tau: 3.0, v_threshold: 0.75", "tau: 3.0, v_threshold: 0.75, v_reset: null")
    with pytest.raises(NIRError, match="lif1.*soft reset"):
        export_nir(evsim_network(tmp_path, text), target="spikingjelly")
