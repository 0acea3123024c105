"""``conv2d``: 2-D convolution, PyTorch semantics.

    y[o, i, j] = b[o] + Σ_{c ∈ group(o)} Σ_{u,v} W[o, c, u, v] · x[c, s·i − p + d·u, s·j − p + d·v]
    H_out = ⌊(H + 2p − d(k − 1) − 1)/s⌋ + 1          (out-of-range x are zero padding)

Event step: each input event (c, y, x) adds its weight row W[:, c, u, v] into every output
position whose tap (u, v) reads it; silent inputs cost nothing. Exact counts: the event's
fan-out is o_per_group for every tap that lands inside the output (borders exact).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..spec.layer import ShapeProblem, pair, require_rank
from ..spec.registry import register
from . import kernels, synaptic
from .base import Kind


def _taps_inside(n_in, n_out, k, s, p, d) -> int:
    """#{(o, u): 0 ≤ o < n_out, 0 ≤ u < k, 0 ≤ s·o − p + d·u < n_in}, looping over the
    shorter range and counting the other in closed form (a huge axis costs nothing)."""
    def count(lo_num, hi_num, step, size):  # #{x in [0, size): lo_num ≤ step·x < hi_num}
        first = max(0, -(-lo_num // step))
        last = min(size - 1, (hi_num - 1) // step)
        return max(0, last - first + 1)
    if k <= n_out:
        return sum(count(p - d * u, n_in + p - d * u, s, n_out) for u in range(k))
    return sum(count(p - s * o, n_in + p - s * o, d, k) for o in range(n_out))


@register
@dataclass
class Conv2d(Kind):
    step_local: ClassVar[bool] = True
    out_channels: int = 0
    kernel_size: object = 3
    stride: object = 1
    padding: object = 0
    dilation: object = 1
    groups: int = 1
    bias: bool = False
    kind: ClassVar[str] = "conv2d"
    foldable_into: ClassVar[bool] = True
    detail_keys: ClassVar[tuple] = synaptic.DETAIL_KEYS

    def __post_init__(self):
        if not isinstance(self.out_channels, int) or self.out_channels <= 0:
            raise ShapeProblem(f"'out_channels' must be a positive int, got {self.out_channels!r}")
        self.kernel_size = pair(self.kernel_size, "kernel_size")
        self.stride = pair(self.stride, "stride")
        self.padding = pair(self.padding, "padding")
        self.dilation = pair(self.dilation, "dilation")
        if min(self.kernel_size + self.stride + self.dilation) < 1 or min(self.padding) < 0:
            raise ShapeProblem("kernel_size, stride, dilation must be ≥ 1 and padding ≥ 0")
        if self.groups < 1:
            raise ShapeProblem(f"'groups' must be ≥ 1, got {self.groups}")
        if self.out_channels % self.groups:
            raise ShapeProblem(f"out_channels {self.out_channels} is not divisible by groups {self.groups}")

    # -- shapes ---------------------------------------------------------------------------
    def output_shape(self, in_shapes):
        require_rank(in_shapes[0], (3,), "its input")
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
        product over both axes of #{(o, u): 0 ≤ o < n_out, 0 ≤ u < k, 0 ≤ s·o − p + d·u < n_in}
        (input position s·o − p + d·u), counted along the shorter of the two ranges."""
        taps = [_taps_inside(n_in, n_out, k, s, p, d) for n_in, n_out, k, s, p, d in
                zip(in_shapes[0][1:], out_shape[1:], self.kernel_size, self.stride, self.padding, self.dilation)]
        return math.prod(taps) * in_shapes[0][0] * (self.out_channels // self.groups)

    def workspace_elements(self, in_shapes, out_shape, steps, engine):
        """Scratch the dense step holds besides its output: the padded input and the window
        tensor einsum may copy ([S, C, H_out, W_out, kh, kw])."""
        c, h, w = in_shapes[0]
        padded = c * (h + 2 * self.padding[0]) * (w + 2 * self.padding[1])
        if engine != "dense":
            return padded + math.prod(out_shape)
        return steps * (padded + c * out_shape[1] * out_shape[2] * self.kernel_size[0] * self.kernel_size[1])

    # -- engines --------------------------------------------------------------------------
    def prepare(self, params, dtype, facts, engine):
        weight = np.asarray(params["weight"], dtype=dtype)
        plan = {"weight": weight, "bias": synaptic.bias_of(params, dtype)}
        if engine == "event":  # weight_t[c, u, v, :]: the o_per_group outputs one input event reaches
            o_per_group, c_per_group = weight.shape[0] // self.groups, weight.shape[1]
            weight_t = np.empty((c_per_group * self.groups, *weight.shape[2:], o_per_group), dtype=dtype)
            for g in range(self.groups):
                weight_t[g * c_per_group:(g + 1) * c_per_group] = \
                    weight[g * o_per_group:(g + 1) * o_per_group].transpose(1, 2, 3, 0)
            fan, fan_nonzero = self.fanout(facts.in_shapes[0], facts.out_shape, weight)
            position_major = lambda a: np.ascontiguousarray(np.broadcast_to(a, facts.in_shapes[0]).transpose(1, 2, 0)).reshape(-1)  # noqa: E731
            plan.update(weight_t=weight_t, c_per_group=c_per_group, o_per_group=o_per_group, facts=facts,
                        fan=position_major(fan).astype(np.int64), fan_nonzero=position_major(fan_nonzero).astype(np.int64))
        return plan

    def dense(self, plan, inputs, state):
        """x [S, C, H, W] → [S, C_out, H_out, W_out] by sliding windows and one einsum per group."""
        x, weight = inputs[0], plan["weight"]
        (sh, sw), (ph, pw), (dh, dw) = self.stride, self.padding, self.dilation
        kh, kw = weight.shape[2:]
        xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
        windows = sliding_window_view(xp, (dh * (kh - 1) + 1, dw * (kw - 1) + 1), axis=(2, 3))
        windows = windows[:, :, ::sh, ::sw, ::dh, ::dw]  # [S, C, H_out, W_out, kh, kw]
        c_group, o_group = x.shape[1] // self.groups, weight.shape[0] // self.groups
        parts = [np.einsum("tchwuv,ocuv->tohw", windows[:, g * c_group:(g + 1) * c_group],
                           weight[g * o_group:(g + 1) * o_group], optimize=True) for g in range(self.groups)]
        out = np.concatenate(parts, axis=1) if self.groups > 1 else parts[0]
        if plan["bias"] is not None:
            out = out + plan["bias"].reshape(1, -1, 1, 1)
        return np.ascontiguousarray(out, dtype=x.dtype)

    def event(self, plan, inputs, state, counts, steps):
        """All S steps in one pass: events position-major (index ((s·H + y)·W + x)·C + c),
        extracted and counted together (each event's fan-out comes from a table of valid taps
        per input element), then one register-blocked scatter over the S·H_out output rows
        (groups = 1) or one grouped scatter per step."""
        x = inputs[0]
        steps_n, c_in, in_h, in_w = x.shape
        out_c, out_h, out_w = plan["facts"].out_shape
        geometry = (*self.stride, *self.padding, *self.dilation)
        position_major = np.ascontiguousarray(x.transpose(0, 2, 3, 1)).reshape(steps_n, -1)
        index, values, starts, step_counts = kernels.counted_events(position_major, c_in, plan["fan"], plan["fan_nonzero"])
        acc = np.empty((steps_n, out_h, out_w, out_c), dtype=x.dtype)
        if self.groups == 1:
            kernels.blocked_conv(index, values, starts, c_in, in_h, in_w, plan["weight_t"], acc, *geometry,
                                 synaptic.all_ones(values))
        else:
            plane = in_h * in_w
            for s in range(steps_n):
                first, last = starts[s * plane], starts[(s + 1) * plane]
                acc[s] = 0
                kernels.conv_gather(index[first:last] - s * plane * c_in, values[first:last],
                                    starts[s * plane:(s + 1) * plane + 1] - first, c_in, in_h, in_w, plan["weight_t"],
                                    acc[s], *geometry, plan["c_per_group"], plan["o_per_group"])
        synaptic.record_steps(counts, steps, step_counts, plan["facts"], plan["bias"] is not None)
        out = np.ascontiguousarray(acc.transpose(0, 3, 1, 2))
        if plan["bias"] is not None:
            out += plan["bias"].reshape(-1, 1, 1)
        return out

    def event_dense(self, plan, inputs, state, counts, steps):
        """Dense output (im2col and BLAS, the dense engine's own arithmetic), counts from the events."""
        x = inputs[0]
        position_major = np.ascontiguousarray(x.transpose(0, 2, 3, 1)).reshape(x.shape[0], -1)
        *_, step_counts = kernels.counted_events(position_major, x.shape[1], plan["fan"], plan["fan_nonzero"])
        synaptic.record_steps(counts, steps, step_counts, plan["facts"], plan["bias"] is not None)
        return self.dense(plan, inputs, state)

    # -- counts ---------------------------------------------------------------------------
    def fanout(self, in_shape, out_shape, weight) -> tuple[np.ndarray, np.ndarray]:
        """(all synapses, nonzero-weight synapses) of each input element [C, H, W], from a
        tap-validity map (which kernel taps of some output read each input position) —
        an all-ones convolution transposed, computed without following any event."""
        axes = []
        for n_in, n_out, k, s, p, d in zip(in_shape[1:], out_shape[1:], self.kernel_size, self.stride,
                                           self.padding, self.dilation):
            pos = np.arange(n_in)[None, :] + p - d * np.arange(k)[:, None]  # [k, n_in] = s·i
            axes.append((pos % s == 0) & (pos >= 0) & (pos // s < n_out))
        valid = (axes[0][:, None, :, None] & axes[1][None, :, None, :]).astype(np.int64)  # [u, v, y, x]
        out_per_group = out_shape[0] // self.groups
        c_in = in_shape[0]
        c_group = c_in // self.groups
        nonzero_taps = np.empty((c_in, *self.kernel_size), dtype=np.int64)
        for c in range(c_in):  # nonzero weights per (input channel, tap) among its group's outputs
            g = c // c_group
            nonzero_taps[c] = np.count_nonzero(weight[g * out_per_group:(g + 1) * out_per_group, c % c_group], axis=0)
        all_synapses = np.broadcast_to(valid.sum(axis=(0, 1)) * out_per_group, in_shape)
        return all_synapses, np.einsum("uvyx,cuv->cyx", valid, nonzero_taps)

    def count(self, params, inputs, output, facts, counts):
        fan, fan_nonzero = self.fanout(facts.in_shapes[0], facts.out_shape, params["weight"])
        synaptic.count(inputs[0], fan, fan_nonzero, facts, "bias" in params, counts)

    def detail(self, stats, facts):
        return synaptic.detail(stats, facts)

    def expected(self, facts, in_rates, out_rate, counts):
        synaptic.expected(facts, in_rates[0], out_rate, counts)
