"""What every layer of a spec has, whatever its kind: the ground the kinds stand on.

A layer kind (``evsim/kinds/<kind>.py``) subclasses :class:`Layer`, as NIR writes one small
dataclass per node: its fields are the spec options, ``__post_init__`` validates them, and
the shape facets tell — without running anything — the output shape, the value kind it
emits, its parameter shapes and its dense operation count per time step. Shapes are per
time step: images ``[C, H, W]``, token matrices ``[N, D]`` (N tokens of D features),
vectors ``[D]``.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import ClassVar

BINARY, INTEGER, ANALOG = "binary", "integer", "analog"
VALUE_KINDS = (BINARY, INTEGER, ANALOG)


class ShapeProblem(ValueError):
    """Raised by a layer for inconsistent options or shapes; the reader adds file, line and layer."""

    def __init__(self, message: str, fix: str | None = None):
        super().__init__(message)
        self.fix = fix


def pair(value, name) -> tuple[int, int]:
    """An int or a pair of ints (kernel sizes, strides) as a pair."""
    if isinstance(value, bool):
        raise ShapeProblem(f"'{name}' must be an int or a pair of ints, got {value!r}")
    if isinstance(value, int):
        return (value, value)
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        return tuple(value)
    raise ShapeProblem(f"'{name}' must be an int or a pair of ints, got {value!r}")


def require_rank(shape, ranks, what):
    if len(shape) not in ranks:
        names = {1: "a vector [D]", 2: "tokens [N, D]", 3: "an image [C, H, W]"}
        expected = " or ".join(names[r] for r in ranks)
        raise ShapeProblem(f"expects {expected} per step, got shape {list(shape)} from {what}")


def require_spikes(in_values, names):
    """Each named input binary spikes: kinds whose arithmetic is AND/coincidence on 0/1 say so
    at load time instead of miscounting integer or analog values."""
    for name, values in zip(names, in_values):
        if values != BINARY:
            raise ShapeProblem(f"{name} must be binary spikes, got {values} values "
                               "(put a spiking layer before it)")


@dataclass(frozen=True)
class LayerFacts:
    """What the spec knows of one layer's place in the graph — everything a kind's engine
    and counting facets need besides its own options."""

    name: str
    in_shapes: tuple       # per-step shape of each input
    out_shape: tuple       # per-step output shape
    in_values: tuple       # value kind of each input: binary | integer | analog
    out_values: str
    steps: int             # T, or 1 after a mean over time
    dense_ops: int         # padded FLOP count per step (as PyTorch counters give it)
    synapses: int          # synapses that exist per step (edge-exact)
    has_bias: bool         # a bias or a folded BatchNorm shift is added per output

    @property
    def in_elements(self) -> int:
        return sum(math.prod(s) for s in self.in_shapes)

    @property
    def out_elements(self) -> int:
        return math.prod(self.out_shape)


@dataclass
class Layer:
    """Common fields: ``name``, ``inputs`` (producer names), where it was written, an optional
    declared firing rate of its output (spikes per neuron per step) for analytic energy, and
    ``delays``: an input written ``{from: name, delay: d}`` reads that producer's output of d
    steps before (zeros for t < d) — the edge that may close a cycle (a recurrent layer)."""

    name: str
    inputs: tuple
    origin: str = ""
    firing_rate: float | None = None
    delays: tuple = ()     # per input: read the producer's output of d steps before (0: the same step)

    kind: ClassVar[str] = ""
    arity: ClassVar[int | None] = 1   # None: two or more inputs
    spiking: ClassVar[bool] = False   # emits spikes recorded in Run.spikes
    static: ClassVar[bool] = False    # collapses time: it and everything after run once
    foldable_into: ClassVar[bool] = False  # a BatchNorm right after it folds into its weights
    commutes_with_scaling: ClassVar[bool] = False  # f(g·x + s) = g·f(x) + s for g > 0 (a max-pool)

    def output_shape(self, in_shapes: list[tuple]) -> tuple:
        return in_shapes[0]

    def output_values(self, in_values: list[str]) -> str:
        return ANALOG

    def parameter_shapes(self, in_shapes: list[tuple]) -> dict[str, tuple]:
        return {}

    def dense_ops(self, in_shapes: list[tuple], out_shape: tuple) -> int:
        """Synaptic operations per time step with every input active, counted as FLOP
        counters count them (padded borders included)."""
        return 0

    def synapses(self, in_shapes: list[tuple], out_shape: tuple) -> int:
        """Synapses that really exist per time step (every input × its real fan-out;
        padded borders excluded) — the dense count of the exact conventions."""
        return 0

    def ann_macs(self, in_shapes: list[tuple], out_shape: tuple) -> int:
        """MACs of the same layer in an ANN of the same shapes (one pass)."""
        return self.dense_ops(in_shapes, out_shape)

    def delay(self, i: int) -> int:
        """Steps by which input ``i`` is delayed (``{from: name, delay: d}`` in the spec)."""
        return self.delays[i] if self.delays else 0

    @classmethod
    def options(cls) -> list[str]:
        common = {f.name for f in dataclasses.fields(Layer)}
        return [f.name for f in dataclasses.fields(cls) if f.name not in common]

    @classmethod
    def check_option(cls, name, value):
        """Type check of a spec value against the field's annotation (int, float, bool,
        str, optional float); kernel sizes and the like check themselves."""
        annotation = {f.name: f.type for f in dataclasses.fields(cls)}[name]
        annotation = getattr(annotation, "__forward_arg__", getattr(annotation, "__name__", annotation))
        is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
        ok = {"int": isinstance(value, int) and not isinstance(value, bool), "float": is_number,
              "bool": isinstance(value, bool), "str": isinstance(value, str),
              "float | None": is_number or value is None}.get(annotation, True)
        if not ok:
            wanted = {"int": "an integer", "float": "a number", "bool": "true or false", "str": "a string",
                      "float | None": "a number or null"}[annotation]
            raise ShapeProblem(f"'{name}' must be {wanted}, got {value!r}")
        if is_number and not math.isfinite(value):
            raise ShapeProblem(f"'{name}' must be a finite number, got {value!r}")
