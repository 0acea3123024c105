"""Numba kernels: each input event scatters its weight row (or conv kernel) into its
targets' input currents, and counts exactly what it did.

Events are given as flat index arrays plus values (1 for spikes, an integer count for
residual sums, the real value for analog inputs). The scatter is organised by target —
each thread owns whole output rows and visits the events that reach them — so threads
never write the same accumulator and need no atomics, and each output sums its events in
a fixed order. Separate counting kernels give (synaptic events, value-weighted synaptic
events, nonzero-weight events) from the events alone.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from ..errors import EvsimError


@njit(cache=True)
def _extract_events(flat):
    """The events of one step's tensor: (flat indices, values) of its nonzero elements."""
    n = 0
    for i in range(flat.size):
        if flat[i] != 0:
            n += 1
    index = np.empty(n, dtype=np.int64)
    values = np.empty(n, dtype=flat.dtype)
    k = 0
    for i in range(flat.size):
        if flat[i] != 0:
            index[k] = i
            values[k] = flat[i]
            k += 1
    return index, values


@njit(cache=True, parallel=True, fastmath=False)
def _conv_gather(ev_index, ev_val, position_start, c_in, in_h, in_w, weight_t, out, stride_h, stride_w,
                pad_h, pad_w, dil_h, dil_w, c_per_group, o_per_group):
    """Each input event adds its weight row weight_t[c, u, v, :] (the o_per_group outputs of
    c's group) into every output position whose kernel tap (u, v) reads it. Organised by
    target: output row i (one thread each) visits, per tap, the events at the input
    position that tap reads — events are position-major (index = (y·W + x)·C + c, with
    position_start[p] the first event at position p). Silent inputs cost nothing; every
    output element sums its events in a fixed order, whatever the thread count."""
    kh, kw = weight_t.shape[1], weight_t.shape[2]
    h_out, w_out = out.shape[0], out.shape[1]
    for i in prange(h_out):
        for j in range(w_out):
            for u in range(kh):
                y = i * stride_h - pad_h + u * dil_h
                if y < 0 or y >= in_h:
                    continue
                for v in range(kw):
                    x = j * stride_w - pad_w + v * dil_w
                    if x < 0 or x >= in_w:
                        continue
                    position = y * in_w + x
                    for e in range(position_start[position], position_start[position + 1]):
                        c = ev_index[e] % c_in
                        o_base = (c // c_per_group) * o_per_group
                        # row views keep the inner loop a plain contiguous axpy that LLVM vectorises
                        target = out[i, j, o_base:o_base + o_per_group]
                        row = weight_t[c, u, v]
                        val = ev_val[e]
                        for o in range(o_per_group):
                            target[o] += val * row[o]


@njit(cache=True)
def _conv_event_counts(ev_index, ev_val, c_in, in_w, nonzero_taps, h_out, w_out, stride_h, stride_w, pad_h, pad_w,
                      dil_h, dil_w, o_per_group):
    """(synaptic events, value-weighted events, nonzero-weight events) of position-major
    conv events: each event's fan-out is o_per_group for every tap that lands in the output."""
    kh, kw = nonzero_taps.shape[1], nonzero_taps.shape[2]
    synaptic = 0
    weighted = 0.0
    nonzero = 0
    for e in range(ev_index.shape[0]):
        c, position = ev_index[e] % c_in, ev_index[e] // c_in
        y, x = position // in_w, position % in_w
        for u in range(kh):
            ty = y + pad_h - u * dil_h
            if ty < 0 or ty % stride_h != 0 or ty // stride_h >= h_out:
                continue
            for v in range(kw):
                tx = x + pad_w - v * dil_w
                if tx < 0 or tx % stride_w != 0 or tx // stride_w >= w_out:
                    continue
                synaptic += o_per_group
                weighted += ev_val[e] * o_per_group
                nonzero += nonzero_taps[c, u, v]
    return synaptic, weighted, nonzero


@njit(cache=True, parallel=True, fastmath=False)
def _row_gather(ev_index, ev_val, row_start, weight_t, out):
    """Per-token linear layers: each event (token r, feature f) adds val · weight_t[f, :] into
    out[r, :]. Events are row-major, row_start[r] the first event of token r; one thread per
    token, so rows are never shared and each sums its events in a fixed order."""
    d_in = weight_t.shape[0]
    for r in prange(out.shape[0]):
        target = out[r]
        for e in range(row_start[r], row_start[r + 1]):
            row = weight_t[ev_index[e] % d_in]
            val = ev_val[e]
            for o in range(row.shape[0]):
                target[o] += val * row[o]


@njit(cache=True)
def _vector_gather(ev_index, ev_val, rows, out):
    """One target vector: out += Σ over events (in their order) of val · rows[index]. Serial:
    a parallel launch costs more than the few events of one LCA iteration."""
    for e in range(ev_index.shape[0]):
        row = rows[ev_index[e]]
        val = ev_val[e]
        for o in range(row.shape[0]):
            out[o] += val * row[o]


@njit(cache=True)
def _row_event_counts(ev_index, ev_val, nonzero_rows, fan_out):
    d_in = nonzero_rows.shape[0]
    weighted = 0.0
    nonzero = 0
    for e in range(ev_index.shape[0]):
        weighted += ev_val[e] * fan_out
        nonzero += nonzero_rows[ev_index[e] % d_in]
    return ev_index.shape[0] * fan_out, weighted, nonzero


@njit(cache=True)
def _maxpool_scatter(ev_index, ev_val, in_h, in_w, out, k_h, k_w, stride_h, stride_w, pad_h, pad_w):
    """Max pooling of non-negative events: each event raises every window that holds it."""
    h_out, w_out = out.shape[1], out.shape[2]
    plane = in_h * in_w
    for e in range(ev_index.shape[0]):
        c, rest, val = ev_index[e] // plane, ev_index[e] % plane, ev_val[e]
        y, x = rest // in_w, rest % in_w
        for u in range(k_h):
            ty = y + pad_h - u
            if ty < 0 or ty % stride_h != 0 or ty // stride_h >= h_out:
                continue
            for v in range(k_w):
                tx = x + pad_w - v
                if tx < 0 or tx % stride_w != 0 or tx // stride_w >= w_out:
                    continue
                i, j = ty // stride_h, tx // stride_w
                if val > out[c, i, j]:
                    out[c, i, j] = val


@njit(cache=True)
def _add_coincidences(left, right, product, left_idx, right_idx):
    """product[a, b] += 1 for every a with left[a] ≠ 0 and b with right[b] ≠ 0 (binary
    vectors); returns the number of such coincidences, nnz(left)·nnz(right)."""
    n_left = 0
    for a in range(left.shape[0]):
        if left[a] != 0:
            left_idx[n_left] = a
            n_left += 1
    n_right = 0
    for b in range(right.shape[0]):
        if right[b] != 0:
            right_idx[n_right] = b
            n_right += 1
    for a in range(n_left):
        for b in range(n_right):
            product[left_idx[a], right_idx[b]] += 1
    return n_left * n_right


@njit(cache=True, parallel=True)
def _attention_qk_first(q, k, v, heads, out):
    """out_h = (Q_h K_hᵀ) V_h from integer spikes q, k, v [N, D] (0/1). Returns, summed over heads:
    coincidences (Σ_j nnz(q[:, j])·nnz(k[:, j])), row additions (nonzero scores × d), additions
    event by event (Σ over nonzero S[n, m] of nnz(V[m])), and the same weighted by S[n, m]."""
    n_tokens, width = q.shape
    d = width // heads
    stats = np.zeros((heads, 4), dtype=np.int64)
    for h in prange(heads):
        scores = np.zeros((n_tokens, n_tokens), dtype=np.int64)
        q_idx = np.empty(n_tokens, dtype=np.int64)
        k_idx = np.empty(n_tokens, dtype=np.int64)
        coincidences = 0
        for j in range(h * d, (h + 1) * d):  # feature j: every (q token, k token) pair spiking on it
            coincidences += _add_coincidences(q[:, j], k[:, j], scores, q_idx, k_idx)
        v_nnz = np.zeros(n_tokens, dtype=np.int64)
        for m in range(n_tokens):
            for j in range(h * d, (h + 1) * d):
                if v[m, j] != 0:
                    v_nnz[m] += 1
        scatters = 0
        weighted = 0
        nonzero = 0
        for n in range(n_tokens):
            for m in range(n_tokens):
                a = scores[n, m]
                if a != 0:
                    scatters += 1
                    weighted += a * v_nnz[m]
                    nonzero += v_nnz[m]
                    target = out[n, h * d:(h + 1) * d]
                    row = v[m, h * d:(h + 1) * d]
                    for j in range(d):  # v is 0/1: adding a·0 changes nothing and keeps the loop branch-free
                        target[j] += a * row[j]
        stats[h, 0] = coincidences
        stats[h, 1] = scatters * d
        stats[h, 2] = nonzero
        stats[h, 3] = weighted
    return stats.sum(axis=0)


@njit(cache=True, parallel=True)
def _attention_kv_first(q, k, v, heads, out):
    """out_h = Q_h (K_hᵀ V_h): per token, each (k spike i, v spike j) pair adds 1 to M[i, j]
    (a coincidence); then each q spike (n, i) adds row M[i, :]. Returns, summed over heads:
    coincidences, row additions (q spikes × d), additions event by event (Σ over q spikes
    of nnz(M[i, :])) and the same again (a q spike is binary: nothing to weight)."""
    n_tokens, width = q.shape
    d = width // heads
    stats = np.zeros((heads, 4), dtype=np.int64)
    for h in prange(heads):
        kv = np.zeros((d, d), dtype=np.int64)
        k_idx = np.empty(d, dtype=np.int64)
        v_idx = np.empty(d, dtype=np.int64)
        coincidences = 0
        for n in range(n_tokens):  # token n: every (k feature, v feature) pair spiking in it
            coincidences += _add_coincidences(k[n, h * d:(h + 1) * d], v[n, h * d:(h + 1) * d], kv, k_idx, v_idx)
        row_nnz = np.zeros(d, dtype=np.int64)
        for i in range(d):
            for j in range(d):
                if kv[i, j] != 0:
                    row_nnz[i] += 1
        scatters = 0
        nonzero = 0
        for n in range(n_tokens):
            for i in range(d):
                if q[n, h * d + i] != 0:
                    scatters += 1
                    nonzero += row_nnz[i]
                    for j in range(d):
                        out[n, h * d + j] += kv[i, j]
        stats[h, 0] = coincidences
        stats[h, 1] = scatters * d
        stats[h, 2] = nonzero
        stats[h, 3] = nonzero
    return stats.sum(axis=0)


# -- checked entry points ------------------------------------------------------------------

def _require(condition, kernel, what):
    if not condition:
        raise EvsimError(f"internal kernel call rejected: {kernel}: {what}",
                         fix="this is a bug in the calling kind, not in your input; please report it")


def _array(a, kernel, name, ndim, kinds="f"):
    _require(isinstance(a, np.ndarray), kernel, f"{name} is not an array")
    _require(a.ndim == ndim, kernel, f"{name} has {a.ndim} dimensions, expected {ndim}")
    _require(a.dtype.kind in kinds, kernel, f"{name} has dtype {a.dtype}")
    _require(a.flags.c_contiguous, kernel, f"{name} is not C-contiguous")


def _events(ev_index, ev_val, kernel, bound):
    _array(ev_index, kernel, "event indices", 1, "i")
    _require(ev_index.dtype == np.int64, kernel, "event indices must be int64")
    _array(ev_val, kernel, "event values", 1, "fiu")
    _require(ev_index.shape == ev_val.shape, kernel, "indices and values differ in length")
    _require(ev_index.size == 0 or (ev_index[0] >= 0 and ev_index[-1] < bound), kernel,
             f"event indices outside [0, {bound}) (they must be ascending, as extract_events gives them)")


def extract_events(flat):
    """(flat indices ascending, values) of the nonzero elements of a 1-D array."""
    _array(flat, "extract_events", "input", 1, "fiub")
    return _extract_events(flat)


def conv_gather(ev_index, ev_val, position_start, c_in, in_h, in_w, weight_t, out, stride_h, stride_w,
                pad_h, pad_w, dil_h, dil_w, c_per_group, o_per_group):
    k = "conv_gather"
    _events(ev_index, ev_val, k, c_in * in_h * in_w)
    _array(position_start, k, "position starts", 1, "i")
    _require(position_start.size == in_h * in_w + 1, k, "one start per input position plus one")
    _array(weight_t, k, "weights", 4)
    _array(out, k, "accumulator", 3)
    _require(weight_t.shape[0] == c_in and weight_t.shape[3] == o_per_group and c_in == c_per_group * (out.shape[2] // o_per_group),
             k, f"weights {weight_t.shape} do not fit {c_in} input channels and accumulator {out.shape}")
    _require(weight_t.dtype == out.dtype and ev_val.dtype == out.dtype, k, "weights, values and accumulator differ in dtype")
    _require(min(stride_h, stride_w, dil_h, dil_w) >= 1 and min(pad_h, pad_w) >= 0, k, "bad geometry")
    _conv_gather(ev_index, ev_val, position_start, c_in, in_h, in_w, weight_t, out, stride_h, stride_w, pad_h, pad_w,
                 dil_h, dil_w, c_per_group, o_per_group)


def conv_event_counts(ev_index, ev_val, c_in, in_w, nonzero_taps, h_out, w_out, stride_h, stride_w, pad_h, pad_w,
                      dil_h, dil_w, o_per_group):
    k = "conv_event_counts"
    _array(nonzero_taps, k, "nonzero taps", 3, "i")
    _require(nonzero_taps.shape[0] == c_in, k, "one row of taps per input channel")
    _events(ev_index, ev_val, k, np.iinfo(np.int64).max)
    _require(min(stride_h, stride_w, dil_h, dil_w) >= 1, k, "bad geometry")
    return _conv_event_counts(ev_index, ev_val, c_in, in_w, nonzero_taps, h_out, w_out, stride_h, stride_w, pad_h, pad_w,
                              dil_h, dil_w, o_per_group)


def row_gather(ev_index, ev_val, row_start, weight_t, out):
    k = "row_gather"
    _array(weight_t, k, "weights", 2)
    _array(out, k, "accumulator", 2)
    _events(ev_index, ev_val, k, out.shape[0] * weight_t.shape[0])
    _array(row_start, k, "row starts", 1, "i")
    _require(row_start.size == out.shape[0] + 1, k, "one start per row plus one")
    _require(out.shape[1] == weight_t.shape[1], k, f"accumulator {out.shape} does not fit weights {weight_t.shape}")
    _require(weight_t.dtype == out.dtype and ev_val.dtype == out.dtype, k, "weights, values and accumulator differ in dtype")
    _row_gather(ev_index, ev_val, row_start, weight_t, out)


def row_event_counts(ev_index, ev_val, nonzero_rows, fan_out):
    _array(nonzero_rows, "row_event_counts", "nonzero rows", 1, "i")
    _events(ev_index, ev_val, "row_event_counts", np.iinfo(np.int64).max)
    return _row_event_counts(ev_index, ev_val, nonzero_rows, fan_out)


def maxpool_scatter(ev_index, ev_val, in_h, in_w, out, k_h, k_w, stride_h, stride_w, pad_h, pad_w):
    k = "maxpool_scatter"
    _array(out, k, "output", 3)
    _events(ev_index, ev_val, k, out.shape[0] * in_h * in_w)
    _require(min(k_h, k_w, stride_h, stride_w) >= 1 and min(pad_h, pad_w) >= 0, k, "bad geometry")
    _maxpool_scatter(ev_index, ev_val, in_h, in_w, out, k_h, k_w, stride_h, stride_w, pad_h, pad_w)


def _attention_args(q, k, v, heads, out, kernel):
    for name, a in (("q", q), ("k", k), ("v", v), ("accumulator", out)):
        _array(a, kernel, name, 2, "i")
        _require(a.dtype == np.int64, kernel, f"{name} must hold int64 spike counts")
    _require(q.shape == k.shape == v.shape == out.shape, kernel, "q, k, v and the accumulator differ in shape")
    _require(heads >= 1 and q.shape[1] % heads == 0, kernel, f"{q.shape[1]} features do not split into {heads} heads")


def attention_qk_first(q, k, v, heads, out):
    _attention_args(q, k, v, heads, out, "attention_qk_first")
    return _attention_qk_first(q, k, v, heads, out)


def attention_kv_first(q, k, v, heads, out):
    _attention_args(q, k, v, heads, out, "attention_kv_first")
    return _attention_kv_first(q, k, v, heads, out)


def vector_gather(ev_index, ev_val, rows, out):
    """out += Σ over events of val · rows[index] (one target vector; the LCA's lateral inhibition)."""
    k = "vector_gather"
    _array(rows, k, "rows", 2)
    _array(out, k, "target", 1)
    _events(ev_index, ev_val, k, rows.shape[0])
    _require(rows.shape[1] == out.shape[0], k, f"rows {rows.shape} do not fit a target of {out.shape[0]}")
    _require(rows.dtype == out.dtype and ev_val.dtype == out.dtype, k, "rows, values and target differ in dtype")
    _vector_gather(ev_index, ev_val, rows, out)
