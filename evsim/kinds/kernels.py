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


@njit(cache=True)
def extract_events(flat):
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


@njit(cache=True)
def count_events(flat):
    """Number of nonzero elements (an integer loop that vectorises)."""
    n = 0
    for i in range(flat.size):
        n += flat[i] != 0
    return n


@njit(cache=True, parallel=True, fastmath=False)
def conv_gather(ev_index, ev_val, position_start, c_in, in_h, in_w, weight_t, out, stride_h, stride_w,
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
def conv_event_counts(ev_index, ev_val, c_in, in_w, nonzero_taps, h_out, w_out, stride_h, stride_w, pad_h, pad_w,
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
def row_gather(ev_index, ev_val, row_start, weight_t, out):
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
def vector_gather(ev_index, ev_val, rows, out):
    """One target vector: out += Σ over events (in their order) of val · rows[index]. Serial:
    a parallel launch costs more than the few events of one LCA iteration."""
    for e in range(ev_index.shape[0]):
        row = rows[ev_index[e]]
        val = ev_val[e]
        for o in range(row.shape[0]):
            out[o] += val * row[o]


@njit(cache=True)
def row_event_counts(ev_index, ev_val, nonzero_rows, fan_out):
    d_in = nonzero_rows.shape[0]
    weighted = 0.0
    nonzero = 0
    for e in range(ev_index.shape[0]):
        weighted += ev_val[e] * fan_out
        nonzero += nonzero_rows[ev_index[e] % d_in]
    return ev_index.shape[0] * fan_out, weighted, nonzero


@njit(cache=True)
def maxpool_scatter(ev_index, ev_val, in_h, in_w, out, k_h, k_w, stride_h, stride_w, pad_h, pad_w):
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
def attention_qk_first(q, k, v, heads, out):
    """out_h = (Q_h K_hᵀ) V_h from integer spikes q, k, v [N, D] (0/1). Returns, per head summed:
    coincidences (Σ_j nnz(q[:, j])·nnz(k[:, j])), row scatters × d, value-weighted, nonzero."""
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
                    weighted += a
                    nonzero += v_nnz[m]
                    target = out[n, h * d:(h + 1) * d]
                    row = v[m, h * d:(h + 1) * d]
                    for j in range(d):  # v is 0/1: adding a·0 changes nothing and keeps the loop branch-free
                        target[j] += a * row[j]
        stats[h, 0] = coincidences
        stats[h, 1] = scatters * d
        stats[h, 2] = weighted * d
        stats[h, 3] = nonzero
    return stats.sum(axis=0)


@njit(cache=True, parallel=True)
def attention_kv_first(q, k, v, heads, out):
    """out_h = Q_h (K_hᵀ V_h): per token, each (k spike i, v spike j) pair adds 1 to M[i, j]
    (a coincidence); then each q spike (n, i) adds row M[i, :] (d additions)."""
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
        stats[h, 2] = scatters * d
        stats[h, 3] = nonzero
    return stats.sum(axis=0)
