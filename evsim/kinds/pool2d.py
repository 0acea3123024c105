"""``sumpool2d`` and ``avgpool2d``: NIR's sum and average pooling (zero padding, PyTorch's
AvgPool2d with ``count_include_pad``).

    sum:  y[c, i, j] = Σ_{u,v} x[c, s·i − p + u, s·j − p + v]          avg: the sum / (k_h k_w)

Passive (no synapses, no weights): both engines compute the windows densely. Spikes in
give integer counts out (sum) or analog values (avg).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..spec.layer import ANALOG, BINARY, INTEGER, ShapeProblem, pair, require_rank
from ..spec.registry import register
from .base import Passive


@dataclass
class Pool2d(Passive):
    step_local: ClassVar[bool] = True
    kernel_size: object = 2
    stride: object = None
    padding: object = 0

    def __post_init__(self):
        self.kernel_size = pair(self.kernel_size, "kernel_size")
        self.stride = self.kernel_size if self.stride is None else pair(self.stride, "stride")
        self.padding = pair(self.padding, "padding")
        if min(self.kernel_size + self.stride) < 1 or min(self.padding) < 0:
            raise ShapeProblem("kernel_size and stride must be ≥ 1 and padding ≥ 0")

    def output_shape(self, in_shapes):
        require_rank(in_shapes[0], (3,), "its input")
        c, h, w = in_shapes[0]
        size = [(n + 2 * p - k) // s + 1 for n, k, s, p in zip((h, w), self.kernel_size, self.stride, self.padding)]
        if min(size) < 1:
            raise ShapeProblem(f"input {h}×{w} is too small for pooling kernel {self.kernel_size}")
        return (c, size[0], size[1])

    def window_sum(self, x):
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
        windows = sliding_window_view(xp, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw]
        return np.ascontiguousarray(windows.sum(axis=(-2, -1)), dtype=x.dtype)


@register
@dataclass
class SumPool2d(Pool2d):
    kind: ClassVar[str] = "sumpool2d"

    def output_values(self, in_values):
        return INTEGER if in_values[0] in (BINARY, INTEGER) else ANALOG

    def dense(self, plan, inputs, state):
        return self.window_sum(inputs[0])


@register
@dataclass
class AvgPool2d(Pool2d):
    kind: ClassVar[str] = "avgpool2d"

    def dense(self, plan, inputs, state):
        return self.window_sum(inputs[0]) / inputs[0].dtype.type(self.kernel_size[0] * self.kernel_size[1])
