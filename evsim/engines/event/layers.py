"""One time step of each layer kind, event-driven: extract the input's events, call the
kernel, record the counts. Weights are prepared once per network and dtype (transposed so
that each event's fan-out is one contiguous row)."""
from __future__ import annotations

import numpy as np

from ... import neurons
from ...spec import INTEGER
from .. import ops
from . import kernels


def prepare(layer, params, dtype):
    """Constants of a layer: transposed weights, nonzero-weight counts, neuron parameters."""
    if layer.kind == "conv2d":
        weight = params["weight"]
        o_per_group = weight.shape[0] // layer.groups
        c_per_group = weight.shape[1]
        c_in = c_per_group * layer.groups
        weight_t = np.empty((c_in, weight.shape[2], weight.shape[3], o_per_group), dtype=dtype)
        for g in range(layer.groups):
            block = weight[g * o_per_group:(g + 1) * o_per_group]           # [o, c, u, v]
            weight_t[g * c_per_group:(g + 1) * c_per_group] = block.transpose(1, 2, 3, 0)
        nonzero_taps = np.count_nonzero(weight_t, axis=3).astype(np.int64)
        return {"weight_t": weight_t, "nonzero_taps": nonzero_taps, "bias": _bias(params, dtype),
                "c_per_group": c_per_group, "o_per_group": o_per_group}
    if layer.kind == "linear":
        weight_t = np.ascontiguousarray(params["weight"].T, dtype=dtype)  # [D_in, D_out]
        return {"weight_t": weight_t, "nonzero_rows": np.count_nonzero(weight_t, axis=1).astype(np.int64),
                "bias": _bias(params, dtype)}
    if layer.spiking:
        step, neuron_params = ops.neuron_model(layer)
        return {"params": neuron_params, "step": step}
    return {"params": params}


def _bias(params, dtype):
    return None if "bias" not in params else params["bias"].astype(dtype)


def count_inputs(inputs, in_values, counts, t, values=None):
    """Input elements, events and spikes of one step; ``values`` are the nonzero input values
    when the caller has already extracted the events (no second pass over the input)."""
    counts["input_elements"][t] = sum(a.size for a in inputs)
    events = sum(kernels.count_events(a.reshape(-1)) for a in inputs) if values is None else values.size
    counts["input_events"][t] = events
    if in_values == INTEGER:
        counts["input_spikes"][t] = round(sum(float(a.sum()) for a in inputs) if values is None else float(values.sum()))
    else:
        counts["input_spikes"][t] = events


def _grouped_events(flat, group_size, groups):
    """Events of a row-major [groups, group_size] tensor and where each group's start."""
    index, values = kernels.extract_events(flat)
    return index, values, np.searchsorted(index // group_size, np.arange(groups + 1))


def conv2d(layer, prep, inputs, state, counts, t, info):
    x = inputs[0]
    c_in, in_h, in_w = x.shape
    position_major = np.ascontiguousarray(x.transpose(1, 2, 0))  # events grouped by input position
    index, values, starts = _grouped_events(position_major.reshape(-1), c_in, in_h * in_w)
    count_inputs(inputs, info["in_values"], counts, t, values)
    out_c, out_h, out_w = info["out_shape"]
    acc = np.zeros((out_h, out_w, out_c), dtype=x.dtype)
    geometry = (*layer.stride, *layer.padding, *layer.dilation)
    kernels.conv_gather(index, values, starts, c_in, in_h, in_w, prep["weight_t"], acc, *geometry,
                        prep["c_per_group"], prep["o_per_group"])
    synaptic, weighted, nonzero = kernels.conv_event_counts(index, values, c_in, in_w, prep["nonzero_taps"],
                                                            out_h, out_w, *geometry, prep["o_per_group"])
    out = np.ascontiguousarray(acc.transpose(2, 0, 1))
    if prep["bias"] is not None:
        out += prep["bias"].reshape(-1, 1, 1)
    _record_synaptic(counts, t, synaptic, weighted, nonzero, info, prep, out)
    return out


def linear(layer, prep, inputs, state, counts, t, info):
    x = inputs[0]
    x2 = x.reshape(-1, x.shape[-1])
    index, values, starts = _grouped_events(x2.reshape(-1), x2.shape[1], x2.shape[0])
    count_inputs(inputs, info["in_values"], counts, t, values)
    acc = np.zeros((x2.shape[0], layer.out_features), dtype=x.dtype)
    kernels.row_gather(index, values, starts, prep["weight_t"], acc)
    synaptic, weighted, nonzero = kernels.row_event_counts(index, values, prep["nonzero_rows"], layer.out_features)
    if prep["bias"] is not None:
        acc += prep["bias"]
    out = acc.reshape(*x.shape[:-1], layer.out_features)
    _record_synaptic(counts, t, synaptic, weighted, nonzero, info, prep, out)
    if x.ndim == 2:
        counts["tokens"][t] = x.shape[0]
    return out


def _record_synaptic(counts, t, synaptic, weighted, nonzero, info, prep, out):
    counts["synaptic_events"][t] = synaptic
    counts["weighted_synaptic_events"][t] = round(weighted) if info["in_values"] == INTEGER else synaptic
    counts["synaptic_events_nonzero"][t] = nonzero
    counts["dense_synaptic_ops"][t] = info["dense_synaptic_ops"]
    counts["dense_macs"][t] = info["dense_macs"]
    counts["bias_adds"][t] = out.size if prep["bias"] is not None else 0


def spiking(layer, prep, inputs, state, counts, t, info):
    x = inputs[0]
    v = state.get(layer.name)
    if v is None:
        v = neurons.initial_state(x.shape, prep["params"], x.dtype)
    v, s, _ = prep["step"](v, x, prep["params"])
    state[layer.name] = v
    counts["neuron_updates"][t] = s.size
    counts["output_spikes"][t] = kernels.count_events(s.reshape(-1))
    return s


def maxpool2d(layer, prep, inputs, state, counts, t, info):
    x = inputs[0]
    if info["in_values"] not in ("binary", "integer"):
        return ops.maxpool2d(x[None], layer.kernel_size, layer.stride, layer.padding)[0]
    out = np.zeros(info["out_shape"], dtype=x.dtype)
    index, values = kernels.extract_events(x.reshape(-1))
    kernels.maxpool_scatter(index, values, x.shape[1], x.shape[2], out, *layer.kernel_size, *layer.stride, *layer.padding)
    return out


def attention(layer, prep, inputs, state, counts, t, info):
    q, k, v = (np.rint(a).astype(np.int64) for a in inputs)  # spikes as exact integers
    n_tokens, width = q.shape
    acc = np.zeros((n_tokens, width), dtype=np.int64)
    kernel = kernels.attention_qk_first if layer.order == "qk_first" else kernels.attention_kv_first
    coincidences, synaptic, weighted, nonzero = kernel(q, k, v, layer.heads, acc)
    counts["attention_coincidences"][t] = coincidences
    counts["synaptic_events"][t] = synaptic
    counts["weighted_synaptic_events"][t] = weighted
    counts["synaptic_events_nonzero"][t] = nonzero
    counts["dense_synaptic_ops"][t] = info["dense_synaptic_ops"]
    counts["dense_macs"][t] = info["dense_macs"]
    counts["tokens"][t] = n_tokens
    return acc.astype(q.dtype) * layer.scale


def elementwise(layer, prep, inputs, state, counts, t, info):
    """Layers without synapses (add, tokens, flatten, batchnorm, mean over tokens): the
    dense function on this one step."""
    return ops.forward(layer, prep["params"], [a[None] for a in inputs])[0]


EXTRACTS_EVENTS = ("conv2d", "linear")  # these count their inputs while extracting the events
STEP = {"conv2d": conv2d, "linear": linear, "lif": spiking, "if": spiking, "maxpool2d": maxpool2d,
        "attention": attention}


def step_function(kind):
    return STEP.get(kind, elementwise)
