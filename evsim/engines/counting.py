"""Brute-force operation counts from dense tensors: the independent reference for the
event engine's own counts.

Synaptic events of a conv are counted with a fan-out map — for each input position, the
number of (output position, kernel tap) pairs that read it, i.e. an all-ones convolution
transposed — so borders and strides are exact without following any event.
"""
from __future__ import annotations

import math

import numpy as np

from ..spec import INTEGER, Spec
from ..stats import LayerStats


def conv_tap_validity(in_hw, out_hw, kernel_size, stride, padding, dilation) -> np.ndarray:
    """valid[u, v, y, x]: input (y, x) is read by kernel tap (u, v) of some output position."""
    axes = []
    for n_in, n_out, k, s, p, d in zip(in_hw, out_hw, kernel_size, stride, padding, dilation):
        pos = np.arange(n_in)[None, :] + p - d * np.arange(k)[:, None]  # [k, n_in] = s·i
        axes.append((pos % s == 0) & (pos >= 0) & (pos // s < n_out))
    return axes[0][:, None, :, None] & axes[1][None, :, None, :]


def conv_fanout(layer, in_shape, out_shape, weight) -> tuple[np.ndarray, np.ndarray]:
    """(all synapses, nonzero-weight synapses) of each input element [C, H, W]."""
    valid = conv_tap_validity(in_shape[1:], out_shape[1:], layer.kernel_size, layer.stride,
                              layer.padding, layer.dilation).astype(np.int64)
    out_per_group = out_shape[0] // layer.groups
    c_in = in_shape[0]
    c_group = c_in // layer.groups
    nonzero_taps = np.empty((c_in, *layer.kernel_size), dtype=np.int64)
    for c in range(c_in):  # count of nonzero weights per (input channel, tap) among its outputs
        g = c // c_group
        nonzero_taps[c] = np.count_nonzero(weight[g * out_per_group:(g + 1) * out_per_group, c % c_group], axis=0)
    taps_per_position = valid.sum(axis=(0, 1))
    all_synapses = np.broadcast_to(taps_per_position * out_per_group, in_shape)
    nonzero = np.einsum("uvyx,cuv->cyx", valid, nonzero_taps)
    return all_synapses, nonzero


def count_layer(spec: Spec, name: str, params: dict, inputs: list, output: np.ndarray) -> LayerStats:
    """LayerStats of one layer from its dense inputs and output ([steps, ...] arrays)."""
    layer = spec.layers[name]
    in_values = spec.in_values(name)[0]
    steps = inputs[0].shape[0]
    stats = LayerStats.for_layer(spec, name, params)
    c = stats.counts
    x = inputs[0]
    c["input_elements"][:] = sum(math.prod(a.shape[1:]) for a in inputs)
    for t in range(steps):
        c["input_events"][t] = sum(np.count_nonzero(a[t]) for a in inputs)
        c["input_spikes"][t] = (int(sum(a[t].sum() for a in inputs)) if in_values == INTEGER
                                else c["input_events"][t])
    per_step = lambda a: a.reshape(steps, -1).sum(axis=1)  # noqa: E731
    if layer.kind in ("conv2d", "linear"):
        if layer.kind == "conv2d":
            fan, fan_nonzero = conv_fanout(layer, x.shape[1:], output.shape[1:], params["weight"])
        else:
            fan = np.full(x.shape[-1], layer.out_features, dtype=np.int64)
            fan_nonzero = np.count_nonzero(params["weight"], axis=0)
        active = x != 0
        c["synaptic_events"][:] = per_step(active * fan)
        c["synaptic_events_nonzero"][:] = per_step(active * fan_nonzero)
        c["weighted_synaptic_events"][:] = (per_step(np.rint(x).astype(np.int64) * fan) if in_values == INTEGER
                                            else c["synaptic_events"])
        c["dense_synaptic_ops"][:] = int(np.broadcast_to(fan, x.shape[1:]).sum())
        c["dense_macs"][:] = spec.dense_ops(name)
        c["bias_adds"][:] = math.prod(output.shape[1:]) if "bias" in params else 0
        if len(x.shape) == 3:
            c["tokens"][:] = x.shape[1]
    elif layer.kind == "attention":
        _count_attention(layer, inputs, c, spec.dense_ops(name))
    elif layer.kind in ("lif", "if"):
        c["neuron_updates"][:] = math.prod(x.shape[1:])
        c["output_spikes"][:] = per_step(output != 0)
    return stats


def _count_attention(layer, inputs, c, dense_macs):
    """First product: binary coincidences. Second product: row scatters of the integer
    intermediate (qk_first: nonzero (QKᵀ)[n, m] scatter V's row m; kv_first: Q's spikes
    scatter rows of KᵀV), each of fan-out d."""
    q, k, v = inputs
    T, N, D = q.shape
    h = layer.heads
    d = D // h
    qh, kh, vh = (np.rint(a).astype(np.int64).reshape(T, N, h, d).transpose(0, 2, 1, 3) for a in (q, k, v))
    c["tokens"][:] = N
    c["dense_macs"][:] = dense_macs
    if layer.order == "qk_first":
        c["attention_coincidences"][:] = (qh.sum(axis=2) * kh.sum(axis=2)).sum(axis=(1, 2))
        scores = qh @ kh.transpose(0, 1, 3, 2)                        # [T, h, N, N]
        v_row_nnz = (vh != 0).sum(axis=3)                             # [T, h, N]
        c["synaptic_events"][:] = (scores != 0).sum(axis=(1, 2, 3)) * d
        c["weighted_synaptic_events"][:] = scores.sum(axis=(1, 2, 3)) * d
        c["synaptic_events_nonzero"][:] = ((scores != 0) * v_row_nnz[:, :, None, :]).sum(axis=(1, 2, 3))
        c["dense_synaptic_ops"][:] = N * N * D
    else:
        c["attention_coincidences"][:] = ((kh != 0).sum(axis=3) * (vh != 0).sum(axis=3)).sum(axis=(1, 2))
        kv = kh.transpose(0, 1, 3, 2) @ vh                            # [T, h, d, d]
        kv_row_nnz = (kv != 0).sum(axis=3)                            # [T, h, d]
        c["synaptic_events"][:] = (qh != 0).sum(axis=(1, 2, 3)) * d
        c["weighted_synaptic_events"][:] = c["synaptic_events"]
        c["synaptic_events_nonzero"][:] = ((qh != 0) * kv_row_nnz[:, :, None, :]).sum(axis=(1, 2, 3))
        c["dense_synaptic_ops"][:] = N * D * d
