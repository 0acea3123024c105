"""``maxpool2d``: max pooling with −∞ padding (PyTorch MaxPool2d).

    y[c, i, j] = max_{u,v} x[c, s·i − p + u, s·j − p + v]

Event step: every step and channel in one compiled call, separably (rows, then columns). A
max-pool does no synaptic work, so it is not counted; measured on Spikformer's pools at 15 %,
raising each event's windows (an event formulation) took 8–12 ms per image against about 2 ms for
this window maximum, which reads every input once whatever the rate and is exact for analog
inputs too (−∞ padding never wins).
Expected rate, inputs independent: a window of k² inputs fires with 1 − (1 − e)^{k²}.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..spec.layer import ANALOG, ShapeProblem
from ..spec.registry import register
from ..stats import ANALOG_RATE, Rate
from . import kernels
from .pool2d import Pool2d


@register
@dataclass
class MaxPool2d(Pool2d):
    kind: ClassVar[str] = "maxpool2d"
    rate_rule: ClassVar[str] = "inputs independent: a k×k window fires with 1 − (1 − e)^{k²}"
    commutes_with_scaling: ClassVar[bool] = True   # max(g·x + s) = g·max(x) + s for g > 0 (synthetic calibration)

    def __post_init__(self):
        super().__post_init__()   # kernel, stride, padding and the output shape as every 2-D pool
        if any(2 * p > k for p, k in zip(self.padding, self.kernel_size)):
            raise ShapeProblem("padding must be at most half the kernel size (as in PyTorch)")

    def output_values(self, in_values):
        return in_values[0]

    def prepare(self, params, dtype, facts, engine):
        return {"facts": facts}

    def dense(self, plan, inputs, state):
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        xp = np.pad(inputs[0], ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=-np.inf)
        windows = sliding_window_view(xp, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw]
        return np.ascontiguousarray(windows.max(axis=(-2, -1)))

    def event(self, plan, inputs, state, counts, steps):
        x = inputs[0]
        out = np.empty((x.shape[0], *plan["facts"].out_shape), dtype=x.dtype)
        kernels.max_pool(x, out, *self.kernel_size, *self.stride, *self.padding)
        return out

    def output_rate(self, facts, in_rates):
        if facts.out_values == ANALOG:
            return ANALOG_RATE
        r = 1 - (1 - in_rates[0].events) ** (self.kernel_size[0] * self.kernel_size[1])
        return Rate(r, r)
