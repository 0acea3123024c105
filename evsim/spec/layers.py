"""Layer kinds of a spec: one small dataclass per kind, as NIR writes its nodes.

Each kind states its governing equation, validates its parameters, and tells — without
running anything — its output shape, the value kind it emits, its parameter shapes and its
dense operation count per time step. Shapes are per time step: images ``[C, H, W]``,
token matrices ``[N, D]`` (N tokens of D features), vectors ``[D]``.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import ClassVar

BINARY, INTEGER, ANALOG = "binary", "integer", "analog"
VALUE_KINDS = (BINARY, INTEGER, ANALOG)

LAYER_KINDS: dict[str, type["Layer"]] = {}


class ShapeProblem(ValueError):
    """Raised by a layer for inconsistent shapes; the graph adds file, line and layer."""

    def __init__(self, message: str, fix: str | None = None):
        super().__init__(message)
        self.fix = fix


def register(cls):
    LAYER_KINDS[cls.kind] = cls
    return cls


def _pair(value, name):
    if isinstance(value, bool):
        raise ShapeProblem(f"'{name}' must be an int or a pair of ints, got {value!r}")
    if isinstance(value, int):
        return (value, value)
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        return tuple(value)
    raise ShapeProblem(f"'{name}' must be an int or a pair of ints, got {value!r}")


@dataclass
class Layer:
    """Common fields: ``name``, ``inputs`` (producer names), where it was written, and an
    optional declared firing rate of its output (spikes per neuron per step) for analytic energy."""

    name: str
    inputs: tuple
    origin: str = ""
    firing_rate: float | None = None

    kind: ClassVar[str] = ""
    arity: ClassVar[int | None] = 1  # None: two or more inputs
    spiking: ClassVar[bool] = False

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

    @classmethod
    def options(cls) -> list[str]:
        common = {f.name for f in dataclasses.fields(Layer)}
        return [f.name for f in dataclasses.fields(cls) if f.name not in common]

    @classmethod
    def check_option(cls, name, value):
        """Type check of a spec value against the field's annotation (int, float, bool,
        str, optional float); kernel sizes and the like check themselves."""
        annotation = {f.name: f.type for f in dataclasses.fields(cls)}[name]
        is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
        ok = {"int": isinstance(value, int) and not isinstance(value, bool), "float": is_number,
              "bool": isinstance(value, bool), "str": isinstance(value, str),
              "float | None": is_number or value is None}.get(annotation, True)
        if not ok:
            wanted = {"int": "an integer", "float": "a number", "bool": "true or false", "str": "a string",
                      "float | None": "a number or null"}[annotation]
            raise ShapeProblem(f"'{name}' must be {wanted}, got {value!r}")


def _require_rank(shape, ranks, what):
    if len(shape) not in ranks:
        names = {1: "a vector [D]", 2: "tokens [N, D]", 3: "an image [C, H, W]"}
        expected = " or ".join(names[r] for r in ranks)
        raise ShapeProblem(f"expects {expected} per step, got shape {list(shape)} from {what}")


@register
@dataclass
class Conv2d(Layer):
    """2-D convolution, PyTorch semantics:
    y[o, i, j] = b[o] + Σ_{c ∈ group(o)} Σ_{u,v} W[o, c, u, v] · x[c, s·i − p + d·u, s·j − p + d·v],
    H_out = ⌊(H + 2p − d(k − 1) − 1)/s⌋ + 1. Out-of-range x are zero padding."""

    out_channels: int = 0
    kernel_size: object = 3
    stride: object = 1
    padding: object = 0
    dilation: object = 1
    groups: int = 1
    bias: bool = False
    kind: ClassVar[str] = "conv2d"

    def __post_init__(self):
        if not isinstance(self.out_channels, int) or self.out_channels <= 0:
            raise ShapeProblem(f"'out_channels' must be a positive int, got {self.out_channels!r}")
        self.kernel_size = _pair(self.kernel_size, "kernel_size")
        self.stride = _pair(self.stride, "stride")
        self.padding = _pair(self.padding, "padding")
        self.dilation = _pair(self.dilation, "dilation")
        if min(self.kernel_size + self.stride + self.dilation) < 1 or min(self.padding) < 0:
            raise ShapeProblem("kernel_size, stride, dilation must be ≥ 1 and padding ≥ 0")
        if self.groups < 1:
            raise ShapeProblem(f"'groups' must be ≥ 1, got {self.groups}")
        if self.out_channels % self.groups:
            raise ShapeProblem(f"out_channels {self.out_channels} is not divisible by groups {self.groups}")

    def output_shape(self, in_shapes):
        _require_rank(in_shapes[0], (3,), "its input")
        c, h, w = in_shapes[0]
        if c % self.groups:
            raise ShapeProblem(f"input channels {c} not divisible by groups {self.groups}")
        size = [(n + 2 * p - d * (k - 1) - 1) // s + 1 for n, k, s, p, d in
                zip((h, w), self.kernel_size, self.stride, self.padding, self.dilation)]
        if min(size) < 1:
            raise ShapeProblem(f"input {h}×{w} is too small for kernel {self.kernel_size} with padding {self.padding}")
        return (self.out_channels, size[0], size[1])

    def parameter_shapes(self, in_shapes):
        shapes = {"weight": (self.out_channels, in_shapes[0][0] // self.groups, *self.kernel_size)}
        if self.bias:
            shapes["bias"] = (self.out_channels,)
        return shapes

    def dense_ops(self, in_shapes, out_shape):
        c_in = in_shapes[0][0] // self.groups
        return math.prod(out_shape) * c_in * self.kernel_size[0] * self.kernel_size[1]

    def synapses(self, in_shapes, out_shape):
        """Σ over input positions of the taps that land inside the output: separable, so the
        product over both axes of Σ_{position, tap} [position + p − d·tap ≡ 0 (mod s), in range]."""
        taps = [sum(1 for pos in range(n_in) for u in range(k)
                    if (pos + p - d * u) >= 0 and (pos + p - d * u) % s == 0 and (pos + p - d * u) // s < n_out)
                for n_in, n_out, k, s, p, d in zip(in_shapes[0][1:], out_shape[1:], self.kernel_size, self.stride,
                                                   self.padding, self.dilation)]
        return math.prod(taps) * in_shapes[0][0] * (self.out_channels // self.groups)


@register
@dataclass
class Linear(Layer):
    """Linear map on the last axis, applied to every token: y[n] = W x[n] + b
    (the official ImageNet code's Conv1d with kernel 1 is the same map)."""

    out_features: int = 0
    bias: bool = True
    kind: ClassVar[str] = "linear"

    def __post_init__(self):
        if not isinstance(self.out_features, int) or self.out_features <= 0:
            raise ShapeProblem(f"'out_features' must be a positive int, got {self.out_features!r}")

    def output_shape(self, in_shapes):
        _require_rank(in_shapes[0], (1, 2), "its input")
        return (*in_shapes[0][:-1], self.out_features)

    def parameter_shapes(self, in_shapes):
        shapes = {"weight": (self.out_features, in_shapes[0][-1])}
        if self.bias:
            shapes["bias"] = (self.out_features,)
        return shapes

    def dense_ops(self, in_shapes, out_shape):
        return math.prod(in_shapes[0]) * self.out_features

    def synapses(self, in_shapes, out_shape):
        return self.dense_ops(in_shapes, out_shape)


@register
@dataclass
class BatchNorm(Layer):
    """Inference-mode batch normalisation over the feature axis (axis 0 of an image,
    the last axis of tokens): y = γ (x − μ) / √(σ² + ε) + β. Folded into the preceding
    conv or linear at load time when it is that layer's only consumer."""

    eps: float = 1e-5
    kind: ClassVar[str] = "batchnorm"

    def __post_init__(self):
        if self.eps <= 0:
            raise ShapeProblem(f"'eps' must be positive, got {self.eps}")

    def features(self, shape):
        return shape[0] if len(shape) == 3 else shape[-1]

    def parameter_shapes(self, in_shapes):
        n = self.features(in_shapes[0])
        return {k: (n,) for k in ("weight", "bias", "running_mean", "running_var")}


@register
@dataclass
class LIF(Layer):
    """Leaky integrate-and-fire, SpikingJelly's discrete form (forward Euler, dt = 1, of
    τ dV/dt = −(V − V_reset) + X):
    decay_input: H = V + (X − (V − V_reset))/τ, else H = V − (V − V_reset)/τ + X;
    S = [H ≥ V_th]; hard reset V = H(1 − S) + V_reset·S, or soft reset (v_reset: null)
    V = H − V_th·S (then V_reset = 0 in the leak)."""

    tau: float = 2.0
    v_threshold: float = 1.0
    v_reset: float | None = 0.0
    decay_input: bool = True
    kind: ClassVar[str] = "lif"
    spiking: ClassVar[bool] = True

    def __post_init__(self):
        if not isinstance(self.tau, (int, float)) or self.tau < 1:
            raise ShapeProblem(f"'tau' must be a number ≥ 1 (in time steps), got {self.tau!r}")

    def output_values(self, in_values):
        return BINARY


@register
@dataclass
class IF(Layer):
    """Integrate-and-fire: H = V + X; S = [H ≥ V_th]; hard or soft reset as LIF."""

    v_threshold: float = 1.0
    v_reset: float | None = 0.0
    kind: ClassVar[str] = "if"
    spiking: ClassVar[bool] = True

    def output_values(self, in_values):
        return BINARY


@register
@dataclass
class MaxPool2d(Layer):
    """Max pooling with -∞ padding: y[c, i, j] = max_{u,v} x[c, s·i − p + u, s·j − p + v]."""

    kernel_size: object = 2
    stride: object = None
    padding: object = 0
    kind: ClassVar[str] = "maxpool2d"

    def __post_init__(self):
        self.kernel_size = _pair(self.kernel_size, "kernel_size")
        self.stride = self.kernel_size if self.stride is None else _pair(self.stride, "stride")
        self.padding = _pair(self.padding, "padding")
        if min(self.kernel_size + self.stride) < 1 or min(self.padding) < 0:
            raise ShapeProblem("kernel_size and stride must be ≥ 1 and padding ≥ 0")
        if any(2 * p > k for p, k in zip(self.padding, self.kernel_size)):
            raise ShapeProblem("padding must be at most half the kernel size (as in PyTorch)")

    def output_shape(self, in_shapes):
        _require_rank(in_shapes[0], (3,), "its input")
        c, h, w = in_shapes[0]
        size = [(n + 2 * p - k) // s + 1 for n, k, s, p in zip((h, w), self.kernel_size, self.stride, self.padding)]
        if min(size) < 1:
            raise ShapeProblem(f"input {h}×{w} is too small for pooling kernel {self.kernel_size}")
        return (c, size[0], size[1])

    def output_values(self, in_values):
        return in_values[0]


@register
@dataclass
class Add(Layer):
    """Residual sum y = Σ_i x_i. Spikes plus spikes give integer spike counts (SEW-style)."""

    kind: ClassVar[str] = "add"
    arity: ClassVar[int | None] = None

    def output_shape(self, in_shapes):
        if len(set(in_shapes)) != 1:
            raise ShapeProblem(f"all inputs must have one shape, got {[list(s) for s in in_shapes]}")
        return in_shapes[0]

    def output_values(self, in_values):
        return ANALOG if ANALOG in in_values else INTEGER


@register
@dataclass
class Tokens(Layer):
    """Image to tokens: x[C, H, W] → y[N = H·W, C], token n = i·W + j."""

    kind: ClassVar[str] = "tokens"

    def output_shape(self, in_shapes):
        _require_rank(in_shapes[0], (3,), "its input")
        c, h, w = in_shapes[0]
        return (h * w, c)

    def output_values(self, in_values):
        return in_values[0]


@register
@dataclass
class Flatten(Layer):
    """Flatten one step's tensor to a vector (C-order)."""

    kind: ClassVar[str] = "flatten"

    def output_shape(self, in_shapes):
        return (math.prod(in_shapes[0]),)

    def output_values(self, in_values):
        return in_values[0]


@register
@dataclass
class Attention(Layer):
    """Spiking self-attention without softmax, per head h and time step:
    y_h = s · Q_h K_hᵀ V_h, with Q, K, V ∈ {0,1}^{N×d}, d = D/heads.
    ``order: qk_first`` computes (Q Kᵀ) then ·V (N×N intermediate, the CIFAR code);
    ``kv_first`` computes Kᵀ V then Q· (d×d intermediate, the ImageNet code). Same function,
    different operation counts: 2·N²·D versus 2·N·D·d per step."""

    heads: int = 1
    scale: float = 0.125
    order: str = "qk_first"
    kind: ClassVar[str] = "attention"
    arity: ClassVar[int | None] = 3

    def __post_init__(self):
        if self.order not in ("qk_first", "kv_first"):
            raise ShapeProblem(f"'order' must be qk_first or kv_first, got {self.order!r}")
        if not isinstance(self.heads, int) or self.heads < 1:
            raise ShapeProblem(f"'heads' must be a positive int, got {self.heads!r}")

    def output_shape(self, in_shapes):
        for s in in_shapes:
            _require_rank(s, (2,), "q, k, v")
        if len(set(in_shapes)) != 1:
            raise ShapeProblem(f"q, k and v must have one shape, got {[list(s) for s in in_shapes]}")
        if in_shapes[0][1] % self.heads:
            raise ShapeProblem(f"{in_shapes[0][1]} features are not divisible into {self.heads} heads")
        return in_shapes[0]

    def dense_ops(self, in_shapes, out_shape):
        n, d_model = in_shapes[0]
        d_head = d_model // self.heads
        if self.order == "qk_first":
            return 2 * n * n * d_model
        return 2 * n * d_head * d_model

    def synapses(self, in_shapes, out_shape):
        """The second product's row scatters, all present: N·N·D (qk_first) or N·D·d (kv_first)."""
        return self.dense_ops(in_shapes, out_shape) // 2


@register
@dataclass
class MeanTokens(Layer):
    """Mean over tokens: y[D] = (1/N) Σ_n x[n, D]."""

    kind: ClassVar[str] = "mean_tokens"

    def output_shape(self, in_shapes):
        _require_rank(in_shapes[0], (2,), "its input")
        return (in_shapes[0][1],)


@register
@dataclass
class MeanTime(Layer):
    """Mean over time steps: y = (1/T) Σ_t x[t]. Everything downstream runs once per inference."""

    kind: ClassVar[str] = "mean_time"
