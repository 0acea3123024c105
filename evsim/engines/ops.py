"""Dense forward functions of every layer kind on [T, ...] time series.

The dense engine is built from these; the event engine uses them for work that is not
event-driven (analog inputs, means) so both engines compute those parts identically.
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .. import neurons


def conv2d(x, weight, bias, stride, padding, dilation, groups):
    """x [T, C, H, W] → [T, C_out, H_out, W_out] (PyTorch Conv2d semantics)."""
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    kh, kw = weight.shape[2:]
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    windows = sliding_window_view(xp, (dh * (kh - 1) + 1, dw * (kw - 1) + 1), axis=(2, 3))
    windows = windows[:, :, ::sh, ::sw, ::dh, ::dw]  # [T, C, H_out, W_out, kh, kw]
    c_group, o_group = x.shape[1] // groups, weight.shape[0] // groups
    parts = [np.einsum("tchwuv,ocuv->tohw", windows[:, g * c_group:(g + 1) * c_group],
                       weight[g * o_group:(g + 1) * o_group], optimize=True) for g in range(groups)]
    out = np.concatenate(parts, axis=1) if groups > 1 else parts[0]
    if bias is not None:
        out = out + bias.reshape(1, -1, 1, 1)
    return np.ascontiguousarray(out, dtype=x.dtype)


def linear(x, weight, bias):
    """x [T, ..., D_in] → [T, ..., D_out]: y = x Wᵀ + b on the last axis."""
    out = x @ weight.T.astype(x.dtype)
    if bias is not None:
        out = out + bias
    return out.astype(x.dtype, copy=False)


def batchnorm(x, params, eps):
    """Inference-mode BN over axis 1 of [T, C, H, W] or the last axis of tokens/vectors."""
    gain = params["weight"] / np.sqrt(params["running_var"] + eps)
    shift = params["bias"] - params["running_mean"] * gain
    shape = (1, -1, 1, 1) if x.ndim == 4 else (1,) * (x.ndim - 1) + (-1,)
    return (x * gain.reshape(shape) + shift.reshape(shape)).astype(x.dtype, copy=False)


def maxpool2d(x, kernel_size, stride, padding):
    """x [T, C, H, W] → max over each window, padding with −∞ (PyTorch MaxPool2d)."""
    (kh, kw), (sh, sw), (ph, pw) = kernel_size, stride, padding
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=-np.inf)
    windows = sliding_window_view(xp, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw]
    return np.ascontiguousarray(windows.max(axis=(-2, -1)))


def attention(q, k, v, heads, scale, order):
    """s · Q_h K_hᵀ V_h per step and head on [T, N, D] spikes (see spec.layers.Attention).
    Integer products are formed first and scaled last, so binary inputs give exact results
    in either order."""
    T, N, D = q.shape
    d = D // heads
    qh, kh, vh = (a.reshape(T, N, heads, d).transpose(0, 2, 1, 3) for a in (q, k, v))
    if order == "qk_first":
        out = (qh @ kh.transpose(0, 1, 3, 2)) @ vh
    else:
        out = qh @ (kh.transpose(0, 1, 3, 2) @ vh)
    return np.ascontiguousarray((out * scale).transpose(0, 2, 1, 3).reshape(T, N, D), dtype=q.dtype)


def tokens(x):
    """[T, C, H, W] → [T, H·W, C]."""
    T, C, H, W = x.shape
    return np.ascontiguousarray(x.reshape(T, C, H * W).transpose(0, 2, 1))


def neuron_model(layer):
    """(step function, parameters) of a spiking layer of the spec."""
    if layer.kind == "lif":
        return neurons.lif_step, neurons.LIFParameters(layer.tau, layer.v_threshold, layer.v_reset, layer.decay_input)
    return neurons.if_step, neurons.IFParameters(layer.v_threshold, layer.v_reset)


def spiking(layer, x):
    """Run LIF or IF neurons over time; returns spikes [T, ...]."""
    step, params = neuron_model(layer)
    return neurons.run_neurons(step, x, params)[0]


def forward(layer, params, inputs):
    """Dense forward of one layer over all its steps; ``params`` are the layer's (folded) weights."""
    kind, x = layer.kind, inputs[0]
    if kind == "conv2d":
        return conv2d(x, params["weight"].astype(x.dtype), _bias(params, x), layer.stride, layer.padding,
                      layer.dilation, layer.groups)
    if kind == "linear":
        return linear(x, params["weight"], _bias(params, x))
    if kind == "batchnorm":
        return batchnorm(x, params, layer.eps)
    if kind in ("lif", "if"):
        return spiking(layer, x)
    if kind == "maxpool2d":
        return maxpool2d(x, layer.kernel_size, layer.stride, layer.padding)
    if kind == "add":
        out = inputs[0].copy()
        for other in inputs[1:]:
            out += other
        return out
    if kind == "tokens":
        return tokens(x)
    if kind == "flatten":
        return x.reshape(x.shape[0], -1).copy()
    if kind == "attention":
        return attention(*inputs, layer.heads, layer.scale, layer.order)
    if kind == "mean_tokens":
        return x.mean(axis=1)
    if kind == "mean_time":
        return x.mean(axis=0, keepdims=True)
    raise ValueError(f"layer kind '{kind}' has no dense forward")  # the spec registry forbids this


def _bias(params, x):
    bias = params.get("bias")
    return None if bias is None else bias.astype(x.dtype)
