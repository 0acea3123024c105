"""NIR graphs built by hand (needs only the ``nir`` package): NIR's own equations by forward
Euler without --from, and a one-line error naming the node for every graph evsim cannot run."""
import numpy as np
import pytest

import evsim
from evsim.cli import main
from evsim.importers.nir import NIRError, import_nir

nir = pytest.importorskip("nir")


def chain(*nodes, input_shape=(4,)):
    names = ["input", *[f"n{i}" for i in range(len(nodes))], "output"]
    graph_nodes = {"input": nir.Input(input_type=np.array(input_shape)), **dict(zip(names[1:-1], nodes)),
                   "output": nir.Output(output_type=np.array([1]))}
    return nir.NIRGraph(nodes=graph_nodes, edges=list(zip(names[:-1], names[1:])), type_check=False)


def lif(n, tau=2e-3, **kw):
    return nir.LIF(tau=np.full(n, tau), r=np.full(n, 1.5), v_leak=np.full(n, 0.1), v_threshold=np.full(n, 1.0),
                   v_reset=np.zeros(n), **kw)


def test_nir_semantics_by_forward_euler_without_from(tmp_path):
    rng = np.random.default_rng(0)
    w, b = rng.normal(0, 1, (5, 4)), rng.normal(0, 0.1, 5)
    taus = np.array([2e-3, 4e-3, 8e-3, 2e-3, 4e-3])  # per neuron: becomes a weights entry
    graph = chain(nir.Affine(weight=w, bias=b), nir.LIF(tau=taus, r=np.full(5, 1.5), v_leak=np.full(5, 0.1),
                                                       v_threshold=np.ones(5), v_reset=np.zeros(5)))
    nir.write(str(tmp_path / "g.nir"), graph)
    assert main(["import", "nir", str(tmp_path / "g.nir"), "--dt", "1e-3", "--T", "40", "-o", str(tmp_path / "out")]) == 0
    net = evsim.load(tmp_path / "out" / "model.yaml", tmp_path / "out" / "weights.safetensors")
    x = rng.uniform(0, 1, (40, 4))
    v, spikes = np.full(5, 0.1), []
    for t in range(40):  # τ dv/dt = (v_leak − v) + R I, Euler with dt; fire on v > θ; reset to 0
        h = v + (1e-3 / taus) * ((1.5 * (w @ x[t] + b) + 0.1) - v)
        s = (h > 1.0).astype(float)
        v = h * (1 - s)
        spikes.append(s)
    for engine in ("dense", "event"):
        assert np.array_equal(net.run(x, engine=engine).spikes["n1"], np.array(spikes))
    assert 10 < np.sum(spikes) < 190


def error_of(graph, **kw):
    with pytest.raises(NIRError) as info:
        import_nir(graph, None, **{"dt": 1e-3, **kw})
    return str(info.value)


def test_malformed_graphs_are_one_line_errors_naming_the_node():
    assert "layer 'n0': NIR node type CubaLI is not supported" in error_of(
        chain(nir.CubaLI(tau_syn=np.ones(4), tau_mem=np.ones(4), r=np.ones(4), v_leak=np.zeros(4))))
    assert "layer 'n1': parameter 'tau' has shape [3], the layer has [5] neurons" in error_of(
        chain(nir.Linear(weight=np.ones((5, 4))), lif(3, tau=np.array([1e-3, 2e-3, 3e-3]))))
    graph = chain(lif(4))
    graph.nodes["input"].input_type = {"input": None}
    assert "layer 'input': the Input node has no shape — pass --input-shape" in error_of(graph)
    assert "NIR does not record the time step — pass --dt" in error_of(chain(lif(4)), dt=None)
    message = error_of(chain(nir.Linear(weight=np.ones((5, 3)))))
    assert "layer 'n0'" in message and "\n" not in message
    assert "layer 'n0': delays of" in error_of(chain(nir.Delay(delay=np.full(4, 1.5e-3))))


def test_delay_node_is_whole_steps():
    spec, _, _ = import_nir(chain(nir.Delay(delay=np.full(4, 2e-3)), nir.Scale(scale=np.full(4, 2.0))), None, dt=1e-3)
    assert spec["layers"][0]["inputs"] == [{"from": "input", "delay": 2}]


@pytest.mark.parametrize("input_shape, conv_input_shape, expected", [
    ((1, 8, 8), (8, 8), [1, 8, 8]),       # SpikingJelly: a one-channel image, the conv's input type says so
    ((1, 8, 8), None, [1, 8, 8]),         # no input type on the conv: its rank (C, H, W) says so
    ((1, 1, 8, 8), None, [1, 8, 8]),      # nirtorch: the sample's batch axis of 1, then one channel
])
def test_leading_one_is_a_batch_axis_only_where_the_consumer_says_so(input_shape, conv_input_shape, expected):
    conv = nir.Conv2d(input_shape=conv_input_shape, weight=np.ones((3, 1, 3, 3)), stride=1, padding=1, dilation=1, groups=1,
                      bias=np.zeros(3))
    spec, _, _ = import_nir(chain(conv, input_shape=input_shape), None, dt=1e-3)
    assert spec["input"]["shape"] == expected
    spec, _, _ = import_nir(chain(nir.Linear(weight=np.ones((5, 4))), input_shape=(1, 4)), None, dt=1e-3)
    assert spec["input"]["shape"] == [4]  # a leading 1 before a Linear: the batch axis, as before


@pytest.mark.parametrize("source, dt", [("spikingjelly", 1e-4), ("sinabs", 1.0)])
def test_library_conventions_name_the_node_of_a_malformed_graph(source, dt):
    """What SpikingJelly's and sinabs' conventions add (R, V_leak, gains) is checked after the
    parameters' shapes, and each problem is one line naming the node."""
    n = 3
    too_few = nir.LIF(tau=np.full(n, 2e-4), r=np.ones(n), v_leak=np.zeros(n), v_threshold=np.ones(n), v_reset=np.zeros(n))
    message = error_of(chain(nir.Linear(weight=np.ones((5, 4))), too_few), source=source, dt=dt)
    assert "layer 'n1': parameter 'tau' has shape [3], the layer has [5] neurons" in message and "\n" not in message
    odd_r = nir.LIF(tau=np.full(5, 2e-4), r=np.full(5, 7.0), v_leak=np.zeros(5), v_threshold=np.ones(5), v_reset=np.zeros(5))
    assert "layer 'n1': R = [7.]" in error_of(chain(nir.Linear(weight=np.ones((5, 4))), odd_r), source=source, dt=dt)
    leaky = nir.LIF(tau=np.full(5, 2e-4), r=np.ones(5), v_leak=np.full(5, 0.5), v_threshold=np.ones(5), v_reset=np.zeros(5))
    assert "layer 'n1': V_leak" in error_of(chain(nir.Linear(weight=np.ones((5, 4))), leaky), source=source, dt=dt)
    cuba = nir.CubaLIF(tau_syn=np.full(5, 2e-4), tau_mem=np.full(5, 4e-4), r=np.ones(5), v_leak=np.zeros(5),
                       v_threshold=np.ones(5), v_reset=np.zeros(5), w_in=np.ones(5))
    message = error_of(chain(nir.Linear(weight=np.ones((5, 4))), cuba), source=source, dt=dt)
    assert "layer 'n1':" in message and "read it without --from" in message
