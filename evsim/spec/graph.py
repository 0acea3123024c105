"""Reading a spec: YAML → expanded layer list → checked, topologically ordered graph.

A spec is a dataflow graph of named layers. ``input: name`` (or ``inputs: [a, b]``) names a
layer's producers; by default a layer reads the layer written before it, and the first one
reads the network input, called ``input``. ``templates`` hold reusable layer lists that
``{use: T, name: block, repeat: N}`` expands with names ``block.0.x``, ``block.1.x``...;
inside a template ``$in`` is the caller's input and local names are prefixed.

An input written ``{from: name, delay: d}`` (d ≥ 1) reads ``name``'s output of d steps
before. Such an edge may close a cycle (a recurrent layer: lif → w_rec → {from: w_rec,
delay: 1} into the sum before lif); the layers of a cycle form a *recurrent group* that the
engines run step by step. A cycle without a delayed edge is an error.
"""
from __future__ import annotations

import difflib
import heapq
import math
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from ..errors import SpecError
from .expr import ExpressionError, names_used, substitute
from .layer import ANALOG, VALUE_KINDS, Layer, LayerFacts, ShapeProblem
from .registry import kinds
from .yamlio import LocatedDict, read_yaml

TOP_LEVEL_KEYS = {"name", "description", "source", "extends", "input", "params", "templates", "layers", "output"}
INPUT_KEYS = {"shape", "T", "encoding", "values"}
ENCODINGS = ("direct", "frames")
CALL_KEYS = {"use", "name", "repeat", "with", "input", "when"}
MAX_ELEMENTS_PER_STEP = 2_000_000_000
MAX_LAYERS = 100_000           # after every template is expanded
MAX_SUBSTITUTED_VALUES = 5_000_000  # the reader's work: values passed through ${} substitution
INPUT_NAME = "input"


@dataclass
class InputSpec:
    """Network input: ``shape`` per step, ``T`` steps; ``direct`` repeats one static
    (analog) image T times, ``frames`` takes a given [T, *shape] array."""

    shape: tuple
    T: int
    encoding: str = "direct"
    values: str = ANALOG


@dataclass
class Spec:
    """A checked network description: layers in topological order with their shapes."""

    path: str
    name: str
    description: str
    input: InputSpec
    layers: dict  # name -> Layer, topological order
    shapes: dict  # name -> per-step shape (includes INPUT_NAME)
    values: dict  # name -> value kind of the layer's output
    static: set   # layers that run once (after a mean over time)
    output: str
    lines: dict = field(default_factory=dict)  # name -> line in layers_path
    layers_path: str = ""  # the file the layers were written in (a base file for 'extends')
    source: str = ""
    recurrent: list = field(default_factory=list)  # groups of layers on a cycle (tuples, in order)

    @cached_property
    def recurrent_members(self) -> set:
        return {name for group in self.recurrent for name in group}

    def in_shapes(self, name) -> list[tuple]:
        return [self.shapes[i] for i in self.layers[name].inputs]

    def in_values(self, name) -> list[str]:
        return [self.values[i] for i in self.layers[name].inputs]

    def steps(self, name) -> int:
        return 1 if name in self.static else self.input.T

    def consumers(self, name) -> list[str]:
        return [n for n, layer in self.layers.items() if name in layer.inputs]

    def parameter_shapes(self) -> dict:
        """{layer: {parameter: shape}} for every layer with parameters (BN running
        statistics included: they are weights-file entries though not trainable)."""
        out = {}
        for name, layer in self.layers.items():
            shapes = layer.parameter_shapes(self.in_shapes(name))
            if shapes:
                out[name] = shapes
        return out

    @property
    def param_count(self) -> int:
        """Trainable parameters, as papers count them (BN running statistics excluded)."""
        return sum(math.prod(shape) for shapes in self.parameter_shapes().values()
                   for key, shape in shapes.items() if not key.startswith("running_"))

    def dense_ops(self, name) -> int:
        return self.layers[name].dense_ops(self.in_shapes(name), self.shapes[name])

    @cached_property
    def fused(self) -> dict[str, str]:
        """{normalisation: producer} for each layer that folds into its producer's weights
        (a BatchNorm whose only input is a conv/linear feeding nothing else)."""
        out = {}
        for name, layer in self.layers.items():
            producer = self.layers.get(layer.inputs[0])
            if (getattr(layer, "folds_into_producer", False) and getattr(producer, "foldable_into", False)
                    and self.consumers(layer.inputs[0]) == [name]):
                out[name] = layer.inputs[0]
        return out

    def facts(self, name) -> LayerFacts:
        """Everything an engine or a counter needs to know of one layer's place in the graph."""
        layer, in_shapes, out_shape = self.layers[name], self.in_shapes(name), self.shapes[name]
        has_bias = bool(getattr(layer, "bias", False)) or name in self.fused.values()
        return LayerFacts(name, tuple(in_shapes), out_shape, tuple(self.in_values(name)), self.values[name],
                          self.steps(name), layer.dense_ops(in_shapes, out_shape), layer.synapses(in_shapes, out_shape),
                          has_bias)

    def where(self, name) -> str:
        """``file:line`` of a layer, for messages about it."""
        return f"{self.layers_path or self.path}:{self.lines.get(name)}"


LIBRARY = Path(__file__).parent / "library"


def resolve_extends(reference: str, from_path: str) -> str:
    """``evsim:name.yaml`` names a spec shipped in evsim/spec/library; anything else is a
    path relative to the extending file."""
    if reference.startswith("evsim:"):
        return str(LIBRARY / reference[len("evsim:"):])
    return str(Path(from_path).parent / reference)


def shipped_dir() -> Path:
    """Where the shipped specs are: the package ``evsim.models`` (the repository's models/)."""
    import importlib.util
    found = importlib.util.find_spec("evsim.models")
    if found is not None and found.submodule_search_locations:
        return Path(list(found.submodule_search_locations)[0])
    return Path(__file__).resolve().parents[2] / "models"  # a source tree without an install


def shipped_specs() -> list[str]:
    return sorted(p.stem for p in shipped_dir().glob("*.yaml") if not p.stem.startswith("rates"))


def shipped(reference: str | Path) -> Path:
    """A shipped spec by name (``spikformer-cifar10-4-384``, with or without ``.yaml`` or ``models/``)."""
    name = Path(reference).name
    return shipped_dir() / (name if name.endswith((".yaml", ".yml")) else name + ".yaml")


def find_spec(reference: str | Path) -> str:
    """A spec path as given if it exists, else the shipped spec of that name."""
    from ..validate import path as checked_path
    path = Path(checked_path(reference, "spec"))
    if path.exists():
        return str(path)
    if len(path.parts) == 1 or path.parent.name == "models":
        candidate = shipped(reference)
        if candidate.exists():
            return str(candidate)
    close = difflib.get_close_matches(path.stem, shipped_specs(), n=1)
    raise SpecError("no such spec file, and no shipped spec of that name", file=str(reference),
                    fix=f"did you mean '{close[0]}'?" if close else f"shipped specs: {', '.join(shipped_specs())}")


def load_spec(path: str | Path) -> Spec:
    """Read and check a YAML spec (a path, or the name of a shipped spec); every problem is a
    :class:`SpecError` naming file and line."""
    return _SpecReader(find_spec(path)).read()


class _SpecReader:
    def __init__(self, path):
        self.path = path
        self.entries: list[tuple[LocatedDict, str, dict]] = []  # (raw layer, note, names)
        self.substituted = 0

    def fail(self, message, line=None, layer=None, fix=None):
        raise SpecError(message, file=self.path, line=line, layer=layer, fix=fix)

    def _read_root(self, path, depth=0):
        """Read a spec file; ``extends: base.yaml`` takes the base's sections, the file's own
        sections replace them and its ``params`` update the base's."""
        self.path = path
        root = read_yaml(path, "spec")
        if not isinstance(root, dict):
            self.fail("a spec must be a mapping with 'input' and 'layers'", line=1)
        self._check_keys(root, TOP_LEVEL_KEYS, "top level")
        origins = {key: path for key in root}
        if "extends" not in root:
            return root, origins
        if depth > 4:
            self.fail("'extends' chains more than 4 files deep", line=root.line_of("extends"))
        base_path = resolve_extends(str(root["extends"]), path)
        base, base_origins = self._read_root(base_path, depth + 1)
        self.path = path
        merged = LocatedDict(base)
        merged.line, merged.key_lines = root.line, {**base.key_lines, **root.key_lines}
        for key, value in root.items():
            if key == "params" and isinstance(value, dict) and isinstance(base.get("params"), dict):
                value = {**base["params"], **value}
            merged[key] = value
        return merged, {**base_origins, **origins}

    def read(self) -> Spec:
        spec_path = self.path
        root, origins = self._read_root(spec_path)
        self.path = origins.get("params", spec_path)
        params = root.get("params") or {}
        if not isinstance(params, dict):
            self.fail("'params' must be a mapping of names to numbers", line=root.line_of("params"))
        params = self._resolve_params(params, root.line_of("params"))
        self.path = origins.get("input", spec_path)
        input_spec = self._read_input(root, params)
        self.path = origins.get("layers", spec_path)
        if not isinstance(root.get("layers"), list) or not root["layers"]:
            self.fail("'layers' must be a non-empty list", line=root.line_of("layers"),
                      fix="list the layers, e.g. '- {name: conv1, kind: conv2d, out_channels: 16}'")
        templates = root.get("templates") or {}
        if not isinstance(templates, dict):
            self.fail("'templates' must be a mapping of names to layer lists", line=root.line_of("templates"))
        layers: dict[str, Layer] = {}
        lines: dict[str, int] = {}
        self._expand(root["layers"], prefix="", caller_input=INPUT_NAME,
                     params=params, templates=templates, note="", layers=layers, lines=lines, depth=0)
        if not layers:
            self.fail("no layer is left once 'when' conditions are applied", line=root.line_of("layers"))
        output = root.get("output", list(layers)[-1])
        if not isinstance(output, str) or output not in layers:
            self.fail(f"output '{output}' is not a layer", line=root.line_of("output"))
        order, groups = self._topological_order(layers, lines)
        layers = {n: layers[n] for n in order}
        spec = self._infer(input_spec, root, layers, lines, output, groups)
        spec.path, spec.layers_path = spec_path, self.path
        spec.source = str(root.get("source", ""))
        if "name" not in root:
            spec.name = Path(spec_path).stem
        return spec

    def _resolve_params(self, params, line):
        """Params may use other params ({D: 384, hidden: "${4*D}"}), in any order, also across
        'extends': each is resolved after the params it reads (one pass in dependency order,
        so the work is linear in the number of params); cycles and unknown names are reported."""
        for key in params:
            if not isinstance(key, str):
                self.fail(f"param names must be strings, got {key!r}", line=line)
        needs = {key: names_used(value) & set(params) for key, value in params.items()}
        readers = {key: [] for key in params}
        for key, used in needs.items():
            for other in used:
                readers[other].append(key)
        waiting = {key: len(used) for key, used in needs.items()}
        ready = [key for key, n in waiting.items() if n == 0]
        resolved = {}
        while ready:
            key = ready.pop()
            resolved[key] = self._substitute(params[key], resolved, line)
            for reader in readers[key]:
                waiting[reader] -= 1
                if waiting[reader] == 0:
                    ready.append(reader)
        for key in params:
            if key not in resolved:
                self.fail(f"param '{key}' depends on itself through other params", line=line)
        return {key: resolved[key] for key in params}

    def _check_keys(self, mapping, allowed, where, layer=None):
        for key in mapping:
            if key not in allowed:
                close = difflib.get_close_matches(str(key), sorted(allowed), n=1)
                hint = f"did you mean '{close[0]}'?" if close else f"allowed: {', '.join(sorted(allowed))}"
                self.fail(f"unknown key '{key}' in {where}", line=mapping.line_of(key), layer=layer, fix=hint)

    def _read_input(self, root, params) -> InputSpec:
        raw = root.get("input")
        if not isinstance(raw, dict):
            self.fail("missing 'input' section", line=1, fix="add 'input: {shape: [3, 32, 32], T: 4, encoding: direct}'")
        self._check_keys(raw, INPUT_KEYS, "input")
        raw = self._substitute(raw, params, raw.line)
        shape, T = raw.get("shape"), raw.get("T")
        if not isinstance(shape, list) or not shape or not all(isinstance(s, int) and s > 0 for s in shape):
            self.fail(f"input 'shape' must be a list of positive ints, got {shape!r}", line=raw.line_of("shape"))
        if isinstance(T, bool) or not isinstance(T, int) or not 1 <= T <= 100_000:
            self.fail(f"input 'T' must be an int between 1 and 100000 time steps, got {T!r}", line=raw.line_of("T"))
        encoding = raw.get("encoding", "direct")
        if encoding not in ENCODINGS:
            self.fail(f"unknown encoding '{encoding}'", line=raw.line_of("encoding"), fix=f"use one of {ENCODINGS}")
        values = raw.get("values", ANALOG)
        if values not in VALUE_KINDS:
            self.fail(f"unknown input values '{values}'", line=raw.line_of("values"), fix=f"use one of {VALUE_KINDS}")
        if encoding == "direct" and values != ANALOG:
            self.fail("a direct-encoded image is analog", line=raw.line_of("values"), fix="drop 'values' or use encoding: frames")
        return InputSpec(tuple(shape), T, encoding, values)

    def _substitute(self, raw, names, line, layer=None):
        self.substituted += _values_in(raw)
        if self.substituted > MAX_SUBSTITUTED_VALUES:
            self.fail(f"the spec expands to more than {MAX_SUBSTITUTED_VALUES:,} values", line=line,
                      fix="check 'repeat' counts and template sizes")
        try:
            return substitute(raw, names)
        except ExpressionError as err:
            self.fail(str(err), line=line, layer=layer, fix="use numbers or names from 'params'")

    def _expand(self, entries, prefix, caller_input, params, templates, note, layers, lines, depth):
        if depth > 8:
            self.fail("templates nest more than 8 deep (a template using itself?)", line=getattr(entries, "line", None))
        if not isinstance(entries, list):
            self.fail("a layer list must be a YAML list", line=getattr(entries, "line", None))
        local_names = {e.get("name") for e in entries if isinstance(e, dict) and "kind" in e and isinstance(e.get("name"), str)}
        previous = caller_input
        for entry in entries:
            if not isinstance(entry, dict):
                self.fail(f"each layer must be a mapping, got {entry!r}", line=getattr(entries, "line", None))
            if "use" in entry:
                previous = self._expand_call(entry, prefix, previous, local_names, caller_input, params,
                                             templates, note, layers, lines, depth)
                continue
            previous = self._add_layer(entry, prefix, previous, local_names, caller_input, params,
                                       note, layers, lines)
        return previous

    def _resolve(self, ref, prefix, local_names, caller_input):
        if ref == "$in":
            return caller_input
        if ref in local_names:
            return prefix + ref
        return ref

    def _expand_call(self, entry, prefix, previous, local_names, caller_input, params, templates,
                     note, layers, lines, depth):
        self._check_keys(entry, CALL_KEYS, "template use")
        entry = self._substitute(entry, params, entry.line)
        if not entry.get("when", True):
            return previous
        name = entry["use"]
        if not isinstance(name, str) or name not in templates:
            close = difflib.get_close_matches(str(name), list(templates), n=1)
            self.fail(f"unknown template '{name}'", line=entry.line,
                      fix=f"did you mean '{close[0]}'?" if close else f"templates defined: {', '.join(templates) or 'none'}")
        repeat = entry.get("repeat", 1)
        if isinstance(repeat, bool) or not isinstance(repeat, int) or not 0 <= repeat <= 10_000:
            self.fail(f"'repeat' must be an int between 0 and 10000, got {repeat!r}", line=entry.line_of("repeat"))
        extra = entry.get("with") or {}
        call_input = self._resolve(entry["input"], prefix, local_names, caller_input) if "input" in entry else previous
        base = str(entry.get("name", name))
        for i in range(repeat):
            instance = base.replace("{i}", str(i)) if "{i}" in base else (f"{base}.{i}" if "repeat" in entry else base)
            names = {**params, **extra, "i": i}
            body = self._substitute(templates[name], names, entry.line)
            where = f"{note} in template '{name}' used at line {entry.line}".strip()
            call_input = self._expand(body, prefix + instance + ".", call_input, names, templates,
                                      where, layers, lines, depth + 1)
        return call_input

    def _add_layer(self, entry, prefix, previous, local_names, caller_input, params, note, layers, lines):
        line = entry.line
        entry = self._substitute(entry, params, line)
        if not entry.get("when", True):  # a layer present only in some configurations
            return previous
        if len(layers) >= MAX_LAYERS:
            self.fail(f"the spec expands to more than {MAX_LAYERS:,} layers", line=line, fix="check 'repeat' counts")
        kind, raw_name = entry.get("kind"), entry.get("name")
        if not isinstance(raw_name, str) or not raw_name:
            self.fail("every layer needs a 'name'", line=line, fix="add 'name: <unique name>'")
        name = prefix + raw_name
        if name == INPUT_NAME or name in layers:
            self.fail(f"layer name '{name}' is used twice" if name != INPUT_NAME else "'input' is reserved for the network input",
                      line=line, layer=name, fix="give each layer a unique name")
        known = kinds()
        if not isinstance(kind, str) or kind not in known:
            close = difflib.get_close_matches(str(kind), list(known), n=1)
            self.fail(f"unknown layer kind '{kind}'", line=line, layer=name,
                      fix=f"did you mean '{close[0]}'?" if close else f"known kinds: {', '.join(known)}")
        cls = known[kind]
        options = set(cls.options())
        self._check_keys(entry, {"name", "kind", "input", "inputs", "firing_rate", "when"} | options, f"{kind} layer", layer=name)
        if "input" in entry and "inputs" in entry:
            self.fail("give 'input' or 'inputs', not both", line=line, layer=name)
        refs = entry.get("inputs", entry.get("input", previous))
        refs = [refs] if isinstance(refs, (str, dict)) else refs
        if not isinstance(refs, list) or not all(isinstance(r, (str, dict)) for r in refs):
            self.fail(f"'inputs' must be a layer name or a list of names, got {refs!r}", line=line, layer=name)
        refs, delays = zip(*(self._delayed_ref(r, line, name) for r in refs))
        inputs = tuple(self._resolve(r, prefix, local_names or set(), caller_input) for r in refs)
        arity = cls.arity
        if (arity is None and len(inputs) < 2) or (arity is not None and len(inputs) != arity):
            want = "two or more inputs" if arity is None else f"{arity} input{'s' if arity > 1 else ''}"
            self.fail(f"a {kind} layer takes {want}, got {len(inputs)}", line=line, layer=name)
        rate = entry.get("firing_rate")
        if rate is not None and (not isinstance(rate, (int, float)) or not 0 <= rate <= 1):
            self.fail(f"'firing_rate' must be between 0 and 1 (spikes per neuron per step), got {rate!r}", line=line, layer=name)
        kwargs = {k: v for k, v in entry.items() if k in options}
        origin = f"{self.path}:{line}" + (f" ({note})" if note else "")
        try:
            for key, value in kwargs.items():
                cls.check_option(key, value)
            layer = cls(name=name, inputs=inputs, origin=origin, firing_rate=rate,
                        delays=delays if any(delays) else (), **kwargs)
        except ShapeProblem as err:
            self.fail(str(err), line=line, layer=name, fix=err.fix)
        layers[name] = layer
        lines[name] = line
        return name

    def _delayed_ref(self, ref, line, layer) -> tuple[str, int]:
        """``name`` → (name, 0); ``{from: name, delay: d}`` → (name, d)."""
        if isinstance(ref, str):
            return ref, 0
        delay = ref.get("delay")
        if set(ref) != {"from", "delay"} or not isinstance(ref["from"], str) or isinstance(delay, bool) \
                or not isinstance(delay, int) or delay < 1:
            self.fail(f"a delayed input is written {{from: name, delay: steps ≥ 1}}, got {dict(ref)!r}", line=line, layer=layer)
        return ref["from"], delay

    def _topological_order(self, layers, lines):
        """Layers in dependency order, file order where free; the layers of each cycle (its
        strongly connected component) contiguous and ordered by their undelayed edges.
        Returns (order, recurrent groups)."""
        for name, layer in layers.items():
            for ref in layer.inputs:
                if ref != INPUT_NAME and ref not in layers:
                    close = difflib.get_close_matches(ref, list(layers), n=1)
                    self.fail(f"input '{ref}' is not a layer", line=lines[name], layer=name,
                              fix=f"did you mean '{close[0]}'?" if close else "name an earlier layer or 'input'")
        position = {n: i for i, n in enumerate(layers)}
        undelayed = {n: [r for i, r in enumerate(layer.inputs) if r != INPUT_NAME and not layer.delay(i)]
                     for n, layer in layers.items()}
        order = kahn(list(layers), undelayed, position)
        if len(order) < len(layers):
            component = strongly_connected(list(layers), undelayed)
            cycle = [n for n in layers if n not in order and (n in undelayed[n] or
                                                              sum(c == component[n] for c in component.values()) > 1)]
            self.fail(f"the layers {cycle} form a cycle without a delay", line=lines[cycle[0]], layer=cycle[0],
                      fix="make one of them read an earlier layer, or write the edge that closes the cycle "
                          "{from: name, delay: 1}")
        every = {n: [r for r in layer.inputs if r != INPUT_NAME] for n, layer in layers.items()}
        component = strongly_connected(list(layers), every)
        groups = {}
        for name in order:
            groups.setdefault(component[name], []).append(name)
        recurrent = [tuple(g) for g in groups.values() if len(g) > 1 or g[0] in every[g[0]]]
        for group in recurrent:
            static = [n for n in group if layers[n].static]
            if static:
                self.fail("a layer that averages over time cannot sit on a cycle", line=lines[static[0]], layer=static[0])
        # the components in dependency order (earliest-written first), each one's layers kept together
        first = {c: min(position[n] for n in g) for c, g in groups.items()}
        deps = {c: sorted({component[r] for n in g for r in every[n]} - {c}) for c, g in groups.items()}
        return [n for c in kahn(list(groups), deps, first) for n in groups[c]], recurrent

    def _infer(self, input_spec, root, layers, lines, output, recurrent=()) -> Spec:
        """Shapes and value kinds in order. A delayed input from a layer not yet inferred
        (the edge that closes a cycle) is taken to have the shape of the layer's first other
        input; the cycle is then inferred again with the real shapes until nothing changes,
        and a guess that was wrong is reported."""
        shapes = {INPUT_NAME: input_spec.shape}
        values = {INPUT_NAME: input_spec.values}
        static = set()
        closing = {group[-1]: group for group in recurrent}
        for name in layers:
            self._infer_layers({name: layers[name]}, lines, shapes, values, static)
            for _ in range(3 if name in closing else 0):  # value kinds settle in ≤ 2 more passes
                before = {n: (shapes[n], values[n]) for n in closing[name]}
                self._infer_layers({n: layers[n] for n in closing[name]}, lines, shapes, values, static)
                if before == {n: (shapes[n], values[n]) for n in closing[name]}:
                    break
        return Spec(path=self.path, name=str(root.get("name", Path(self.path).stem)),
                    description=str(root.get("description", "")), input=input_spec, layers=layers,
                    shapes=shapes, values=values, static=static, output=output, lines=lines, recurrent=list(recurrent))

    def _guess(self, layer, shapes, name, lines):
        known = [shapes[r] for i, r in enumerate(layer.inputs) if r in shapes and not layer.delay(i)]
        if not known:
            self.fail("reads only delayed inputs from layers after it, so its shape cannot be inferred", line=lines[name],
                      layer=name, fix="give it an undelayed input as well (e.g. add the delayed one to it)")
        return known[0]

    def _infer_layers(self, todo, lines, shapes, values, static):
        for name, layer in todo.items():
            in_shapes = [shapes[i] if i in shapes else self._guess(layer, shapes, name, lines) for i in layer.inputs]
            try:
                shape = tuple(layer.output_shape(in_shapes))
                out_values = layer.output_values([values.get(i, ANALOG) for i in layer.inputs])
            except ShapeProblem as err:
                producers = ", ".join(f"'{i}' {list(shapes[i])}" for i in layer.inputs)
                self.fail(f"{err} (inputs: {producers})", line=lines[name], layer=name, fix=err.fix)
            if math.prod(shape) > MAX_ELEMENTS_PER_STEP:
                self.fail(f"output of {math.prod(shape):,} elements per step is absurdly large", line=lines[name],
                          layer=name, fix="check the sizes")
            if name in shapes and shapes[name] != shape:
                self.fail(f"its output shape {list(shape)} on a second pass around its cycle differs from "
                          f"{list(shapes[name])} on the first", line=lines[name], layer=name,
                          fix="a delayed input must have the shape of the layer's other inputs")
            shapes[name] = shape
            values[name] = out_values
            if layer.static or any(i in static for i in layer.inputs):
                if not layer.static and not all(i in static for i in layer.inputs):
                    self.fail("mixes per-step inputs with inputs averaged over time", line=lines[name], layer=name)
                static.add(name)


def kahn(nodes: list, producers: dict, position: dict) -> list:
    """Kahn's algorithm over {node: its producers}, taking the ready node of lowest
    ``position`` first (file order where the graph leaves a choice); nodes on a cycle are left out."""
    indegree = {n: len(producers[n]) for n in nodes}
    consumers = {n: [] for n in nodes}
    for n in nodes:
        for p in producers[n]:
            consumers[p].append(n)
    ready = [(position[n], n) for n in nodes if indegree[n] == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        _, n = heapq.heappop(ready)
        order.append(n)
        for c in consumers[n]:
            indegree[c] -= 1
            if indegree[c] == 0:
                heapq.heappush(ready, (position[c], c))
    return order


def strongly_connected(nodes: list, producers: dict) -> dict:
    """{node: component id} by Tarjan's algorithm (iterative), over edges producer → node."""
    index, low, component, stack, on_stack = {}, {}, {}, [], set()
    counter = 0
    for root in nodes:
        if root in index:
            continue
        work = [(root, iter(producers[root]))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, edges = work[-1]
            advanced = False
            for nxt in edges:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(producers[nxt])))
                    advanced = True
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component[member] = node
                    if member == node:
                        break
    return component


def _values_in(value) -> int:
    """Values in a nested list/dict (the cost of substituting it)."""
    if isinstance(value, list):
        return 1 + sum(_values_in(v) for v in value)
    if isinstance(value, dict):
        return 1 + sum(_values_in(v) for v in value.values())
    return 1
