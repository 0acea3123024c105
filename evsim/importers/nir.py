"""NIR graphs (github.com/neuromorphs/NIR) → an evsim spec and weights file.

NIR states each neuron as continuous equations; every library discretises them its own way
and writes its own convention into the file. ``source`` (``--from``) reads a file as that
library meant it, so evsim runs the neuron the library ran; without it, NIR's definition by
forward Euler with the given ``dt``:

    none          LIF → lif_euler (k = dt/τ), CubaLIF → cuba_lif (τ/dt steps, fires on v > θ),
                  LI → leaky_integrator, IF → if (gain R dt, v > θ), I → integrator (gain R dt)
    snntorch      dt = 10⁻⁴; LIF → leaky (β = 1 − dt/τ; snnTorch's R = τ/dt makes the input
                  gain 1), CubaLIF → synaptic (α = 1 − dt/τ_syn); reset by subtraction, one
                  step late (snnTorch's defaults; the file does not record the reset)
    norse         dt = 10⁻³; Norse writes τ = dt/τ_inv (dt·τ), so k = dt·τ_inv = dt²/τ;
                  LIF (LIFBoxCell) → lif_euler, LI → leaky_integrator, IF (IAFCell: v += x) → if with gain R.
                  Norse's LIFCell (exported as CubaLIF) is not supported.
    spikingjelly  dt = 10⁻⁴ (spikingjelly.activation_based.nir_exchange, 2.0): LIF → lif with
                  SpikingJelly's τ = τ_NIR/dt steps (the shortest decimal giving τ_NIR back),
                  decay_input from R (1: decayed, τ: not), V_leak = V_reset required; IF (R = 1/dt)
                  → if with gain 1, firing on v ≥ θ (not NIR's >); hard reset; CubaLIF (gains 1,
                  V_leak = 0) → cuba_lif_decay (CUBALIFNode: c = 1 − dt/τ_syn, v = 1 − dt/τ_mem)
    sinabs        τ in steps (dt = 1); LIF (R = 1, V_leak = 0) → exp_lif (α = e^{−1/τ}, input × (1 − α):
                  sinabs' LIF default norm_input), IF (R = 1) → if; both fire on v ≥ θ, one spike
                  a step (SingleSpike), reset by subtracting θ; the file records none of these
                  choices, nor min_v_mem (sinabs' default MultiSpike is not supported)

Subgraphs are flattened (names ``outer.inner``); a node with several inputs gets an ``add``
before it (``<node>.in``); an edge that closes a cycle reads its producer one step late
(``{from: p, delay: 1}``), as a recurrent layer does; a Delay node delays its edges by
delay/dt steps; an Affine/Linear whose input is an image gets the Flatten that Norse omits.
Parameters equal over the layer become spec options, others per-neuron weights.
"""
from __future__ import annotations

import inspect
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import EvsimError
from ..spec.registry import kinds

# the time step each library's exporter assumes; sinabs writes τ in steps (dt = one step)
SOURCES = {"snntorch": 1e-4, "norse": 1e-3, "spikingjelly": 1e-4, "sinabs": 1.0}


class NIRError(EvsimError):
    """A NIR graph evsim cannot run: names the node and what to do."""


def _nir():
    try:
        import nir
    except ImportError:
        raise NIRError("reading NIR graphs needs the 'nir' package", fix="pip install 'evsim[interop]'") from None
    return nir


@dataclass
class Layers:
    """The spec being written: layer entries, their per-step shapes and their weights."""

    file: str
    entries: list = field(default_factory=list)
    shapes: dict = field(default_factory=dict)
    weights: dict = field(default_factory=dict)

    def add(self, name, kind, inputs, node, **options):
        """Append a layer; its output shape from the kind's own shape facet."""
        refs = [r if not d else {"from": r, "delay": d} for r, d in inputs]
        known = [self.shapes[r] for r, _ in inputs if r in self.shapes]  # a cycle's delayed input: as the others
        in_shapes = [self.shapes.get(r, known[0] if known else None) for r, _ in inputs]
        cls = kinds()[kind]
        try:
            layer = cls(name=name, inputs=tuple(r for r, _ in inputs), **options)
            self.shapes[name] = tuple(layer.output_shape(in_shapes))
        except ValueError as err:  # ShapeProblem
            raise NIRError(f"{err}", file=self.file, layer=node, fix="check the node's parameters and its inputs' shapes") from None
        self.entries.append({"name": name, "kind": kind, "inputs": refs, **options})
        return name


def flatten_graph(graph, nir, prefix=""):
    """(nodes, edges) with every subgraph's nodes inlined under ``prefix``; a subgraph's Input
    and Output nodes stay as pass-throughs (named ``sub.input``, ``sub.output``)."""
    nodes, edges = {}, []
    for name, node in graph.nodes.items():
        full = prefix + name
        if isinstance(node, nir.NIRGraph):
            inner_nodes, inner_edges = flatten_graph(node, nir, full + ".")
            nodes.update(inner_nodes)
            edges += inner_edges
        else:
            nodes[full] = node
    for a, b in graph.edges:
        a, b = _port(graph, a, prefix, nir, "output"), _port(graph, b, prefix, nir, "input")
        edges.append((a, b))
    return nodes, edges


def _port(graph, name, prefix, nir, which):
    """An edge end naming a subgraph means that subgraph's Input (or Output) node."""
    base = name.split(".")[0] if name not in graph.nodes else name
    node = graph.nodes.get(base)
    if isinstance(node, nir.NIRGraph):
        kind = nir.Input if which == "input" else nir.Output
        ports = [n for n, v in node.nodes.items() if isinstance(v, kind)]
        return prefix + base + "." + ports[0]
    return prefix + name


def back_edges(order_from, producers, consumers) -> set:
    """Edges that close a cycle, found by depth-first search from the inputs: the recurrent
    edges (delayed by one step)."""
    state, back = {}, set()
    for root in order_from:
        if root in state:
            continue
        stack = [(root, iter(consumers.get(root, ())))]
        state[root] = "open"
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                state[node] = "done"
                stack.pop()
            elif state.get(nxt) == "open":
                back.add((node, nxt))
            elif nxt not in state:
                state[nxt] = "open"
                stack.append((nxt, iter(consumers.get(nxt, ()))))
    return back


def import_nir(graph_or_path, output_dir=None, dt: float | None = None, source: str | None = None, T: int = 10,
               input_shape=None):
    """Write ``model.yaml`` and ``weights.safetensors`` into ``output_dir`` (if given); returns
    (spec text, {layer: {param: array}}, notes)."""
    nir = _nir()
    file = str(graph_or_path) if isinstance(graph_or_path, (str, Path)) else "<NIR graph>"
    if source is not None and source not in SOURCES:
        raise NIRError(f"unknown source library '{source}'", fix=f"choose one of {', '.join(SOURCES)}")
    if dt is None:
        if source is None:
            raise NIRError("NIR does not record the time step", file=file,
                           fix="pass --dt SECONDS, or --from LIBRARY to use that library's convention")
        dt = SOURCES[source]
    if isinstance(graph_or_path, (str, Path)):
        try:
            # evsim infers and checks shapes itself; nir < 1.0.5 (sinabs' pin) has no type_check and never checks
            checks = "type_check" in inspect.signature(nir.read).parameters
            graph = nir.read(str(graph_or_path), **({"type_check": False} if checks else {}))
        except Exception as err:
            raise NIRError(f"cannot read NIR graph ({type(err).__name__}: {err})", file=file) from None
    else:
        graph = graph_or_path
    notes = [f"read as {source}'s convention ({'τ in steps' if source == 'sinabs' else f'dt = {dt:g} s'})" if source else
             f"no --from: NIR's equations by forward Euler with dt = {dt:g} s"]
    nodes, edges = flatten_graph(graph, nir)
    from . import nir_nodes
    for a, b in edges:
        for end in (a, b):
            if end not in nodes:
                raise NIRError(f"edge ({a}, {b}) names no node '{end}'", file=file, layer=end)
    producers = {n: [a for a, b in edges if b == n] for n in nodes}
    consumers = {n: [b for a, b in edges if a == n] for n in nodes}
    inputs = [n for n, v in nodes.items() if isinstance(v, nir.Input) and not producers[n]]
    outputs = [n for n, v in nodes.items() if isinstance(v, nir.Output) and not consumers[n]]
    if len(inputs) != 1 or len(outputs) != 1:
        raise NIRError(f"evsim runs graphs with one Input and one Output node, found inputs {inputs} and outputs {outputs}",
                       file=file, layer=(inputs + outputs + [None])[0])
    shape = input_shape or _shape(nodes[inputs[0]].input_type)
    if input_shape is None and shape is not None and _has_batch_axis(shape, [nodes[c] for c in consumers[inputs[0]]], nir):
        shape = shape[1:]
        notes.append(f"dropped the batch axis of 1 the Input node carries: input shape {shape}")
    if shape is None:
        raise NIRError("the Input node has no shape", file=file, layer=inputs[0], fix="pass --input-shape C,H,W")
    back = back_edges(inputs + list(nodes), producers, consumers)
    order = _order(nodes, producers, back)
    layers = Layers(file)
    layers.shapes["input"] = tuple(shape)
    refs = {inputs[0]: ("input", 0)}   # NIR node → (evsim layer, extra delay) of its output
    translate = nir_nodes.Translator(nir, layers, dt, source, file)
    pending = []
    for name in order:
        node = nodes[name]
        if name == inputs[0]:
            continue
        ins = [(a, 1 if (a, name) in back else 0) for a in producers[name]]
        if not ins:
            raise NIRError("has no inputs", file=file, layer=name, fix="connect it or remove it")
        resolved = [(refs[a][0], refs[a][1] + d) if a in refs else (a, d) for a, d in ins]
        pending += [(name, a) for a, d in ins if a not in refs]
        if len(resolved) > 1:
            resolved = [(layers.add(f"{name}.in", "add", resolved, name), 0)]
        refs[name] = translate(name, node, resolved)
    for _, a in pending:   # delayed edges read layers written later: point them at those layers
        for entry in layers.entries:
            for ref in entry["inputs"]:
                if isinstance(ref, dict) and ref["from"] == a:
                    ref["from"], ref["delay"] = refs[a][0], ref["delay"] + refs[a][1]
    out_ref, out_delay = refs[outputs[0]]
    if out_delay:
        raise NIRError("the output is delayed; evsim's output is a layer's own output", file=file, layer=outputs[0])
    spec = {"name": Path(file).stem if file != "<NIR graph>" else "nir",
            "source": f"NIR graph {file}; {notes[0]}",
            "input": {"shape": list(shape), "T": T, "encoding": "frames"},
            "layers": layers.entries, "output": out_ref}
    if output_dir is not None:
        write(spec, layers.weights, Path(output_dir))
    return spec, layers.weights, notes + translate.notes


def _order(nodes, producers, back):
    """Nodes in dependency order, ignoring the delayed (back) edges."""
    done, order = set(), []
    remaining = list(nodes)
    while remaining:
        ready = [n for n in remaining if all(a in done or (a, n) in back for a in producers[n])]
        if not ready:
            raise NIRError(f"the nodes {remaining} form a cycle without a delay", layer=remaining[0])
        for n in ready:
            done.add(n)
            order.append(n)
        remaining = [n for n in remaining if n not in done]
    return order


def _has_batch_axis(shape, consumers, nir) -> bool:
    """Whether the Input's leading 1 is a batch axis (nirtorch writes the sample's) rather than
    one channel (SpikingJelly writes [1, H, W] for a one-channel image): a consumer's own input
    type decides; else a convolution's or pooling's rank; else a leading 1 is taken as batch."""
    if len(shape) < 2 or shape[0] != 1:
        return False
    for node in consumers:
        expected = _shape(getattr(node, "input_type", None))
        if expected == list(shape):
            return False
        if expected == list(shape[1:]):
            return True
    ranks = {nir.Conv2d: 3, nir.SumPool2d: 3, nir.AvgPool2d: 3, nir.Conv1d: 2}
    for node in consumers:
        rank = next((r for cls, r in ranks.items() if isinstance(node, cls)), None)
        if rank is not None:
            return len(shape) > rank
    return True


def _shape(types):
    value = list(types.values())[0] if isinstance(types, dict) and types else types
    if value is None:
        return None
    shape = [int(v) for v in np.asarray(value).reshape(-1)]
    return shape if shape and all(v > 0 for v in shape) else None


def write(spec: dict, weights: dict, output_dir: Path) -> None:
    import yaml

    from ..files import write_atomic
    from ..weights import save
    output_dir.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(spec, sort_keys=False, default_flow_style=None, width=120)
    write_atomic(output_dir / "model.yaml", lambda tmp: Path(tmp).write_text(text))
    save(weights, output_dir / "weights.safetensors")


def as_scalar_or_array(value, shape, name, node, file):
    """A NIR parameter as a number (equal everywhere) or an array of the layer's shape."""
    a = np.asarray(value, dtype=np.float64)
    if a.size > 1 and shape is not None and a.size != math.prod(shape):   # even if all equal: the wrong layer's
        raise NIRError(f"parameter '{name}' has shape {list(a.shape)}, the layer has {list(shape)} neurons",
                       file=file, layer=node, fix="give one value, or one per neuron")
    if a.size == 1 or np.all(a == a.reshape(-1)[0]):
        return float(a.reshape(-1)[0]) if a.size else None, None
    return None, a.reshape(shape)


# -- export -------------------------------------------------------------------------------------

# sinabs' from_nir builds MultiSpike neurons (several spikes a step), which no evsim neuron is
TARGETS = {"nir": None, **{k: v for k, v in SOURCES.items() if k != "sinabs"}}


def export_nir(network, output=None, target: str = "nir", dt: float | None = None):
    """An evsim network (spec and weights) as a NIR graph under ``target``'s convention (see
    ``nir_export.Exporter``); BatchNorm folded into its conv/linear first. Each layer becomes
    the node of its name; an ``add`` becomes several edges into its consumers (NIR sums a
    node's inputs); a delayed input becomes the edge that closes its cycle (read one step
    late by every NIR reader, evsim's importer included) plus a Delay node for the rest of
    its steps. Writes ``output`` atomically if given; returns (graph, notes)."""
    nir = _nir()
    from . import nir_export
    spec = network.spec
    if target not in TARGETS:
        raise NIRError(f"unknown target library '{target}'", fix=f"choose one of {', '.join(TARGETS)}")
    dt = dt if dt is not None else TARGETS[target]
    if dt is None:
        raise NIRError("NIR does not record the time step; exporting NIR's own equations needs one", file=spec.path,
                       fix="pass --dt SECONDS (the importer must then be given the same --dt)")
    params, fused = network.execution_params, spec.fused
    exporter = nir_export.Exporter(nir, spec, params, dt, target)
    nodes = {"input": nir.Input(input_type={"input": np.array(spec.input.shape)})}
    from ..kinds.add import Add

    def sources(name, seen=()):
        """[(NIR node, delay)] whose sum is layer ``name``'s output: a fused BatchNorm is its
        producer, an add the sum of its inputs (a cycle's later layers resolve the same way)."""
        layer = spec.layers.get(name)
        if name in seen:
            raise NIRError("a cycle of adds has no node to carry it", file=spec.path, layer=name)
        if name in fused:
            return sources(layer.inputs[0], (*seen, name))
        if isinstance(layer, Add):
            return [(node, d + layer.delay(i)) for i, ref in enumerate(layer.inputs) for node, d in sources(ref, (*seen, name))]
        return [(name, 0)]

    wanted = []                           # (NIR source, NIR target, delay in steps)
    for name, layer in spec.layers.items():
        if name in fused or isinstance(layer, Add):
            continue
        if name in nodes or name == "output":
            raise NIRError(f"layer name '{name}' is taken by NIR's Input/Output node", file=spec.path, layer=name,
                           fix="rename the layer")
        nodes[name] = exporter(name, layer)
        wanted += [(node, name, d + layer.delay(i)) for i, ref in enumerate(layer.inputs) for node, d in sources(ref)]
    out = sources(spec.output)
    if any(d for _, d in out):
        raise NIRError("the output is a delayed input; NIR's Output node reads it at once", file=spec.path, layer=spec.output)
    nodes["output"] = nir.Output(output_type={"output": np.array(spec.shapes[spec.output])})
    wanted += [(node, "output", 0) for node, _ in out]
    edges = _delayed_edges(nir, nodes, wanted, dt, spec)
    graph = nir.NIRGraph(nodes=nodes, edges=edges, metadata={"dt": dt, "convention": target, "source": f"evsim {spec.name}"},
                         type_check=False)
    notes = [f"{target} convention, dt = {dt:g} s"] + [f"folded '{bn}' into '{p}'" for bn, p in fused.items()]
    if output is not None:
        from ..files import write_atomic
        write_atomic(output, lambda tmp: nir.write(tmp, graph))
    return graph, notes


def _delayed_edges(nir, nodes, wanted, dt, spec):
    """The edges, with the delays NIR readers give back: an edge that closes a cycle is read one
    step late (the importer's ``back_edges``), a Delay node carries the rest (placed on the
    edge, it leaves the search's order, so the cycle's closing edge is then the Delay's). An
    undelayed evsim edge read as closing a cycle cannot be written."""
    def back_of(edges):
        producers = {n: [a for a, b in edges if b == n] for n in nodes}
        consumers = {n: [b for a, b in edges if a == n] for n in nodes}
        return back_edges(["input", *nodes], producers, consumers)

    back = back_of([(a, b) for a, b, _ in wanted])
    edges, paths = [], []
    for a, b, d in wanted:
        rest = d - ((a, b) in back)
        if rest > 0:
            delay = f"{b}.delay.{a}"
            nodes[delay] = nir.Delay(delay=np.full(spec.shapes[a] if a in spec.shapes else spec.input.shape, rest * dt))
            edges += [(a, delay), (delay, b)]
            paths.append((a, b, d, [(a, delay), (delay, b)], rest))
        else:
            edges.append((a, b))
            paths.append((a, b, d, [(a, b)], 0))
    back = back_of(edges)
    for a, b, d, path, rest in paths:   # what a reader will make of each edge
        if rest + sum(e in back for e in path) != d:
            raise NIRError(f"the input from '{a}' would be read {rest + sum(e in back for e in path)} step(s) late, "
                           f"it is delayed by {d}", file=spec.path, layer=b,
                           fix="NIR readers delay the edge that closes a cycle by one step: delay that edge by ≥ 1")
    return edges
