"""Numba kernels: each input event scatters its weight row (or conv kernel) into its
targets' input currents, and counts exactly what it did.

Events are given as index arrays plus values (1 for spikes, an integer count for residual
sums, the real value for analog inputs). Kernels split the output channels into one chunk
per thread, so threads never write the same accumulator and no atomics are needed.
Each returns (synaptic events, value-weighted synaptic events, nonzero-weight events).
"""
from __future__ import annotations

import numba
import numpy as np
from numba import njit, prange


def output_chunks(width):
    """Boundaries splitting ``width`` output channels into one chunk per thread."""
    n = max(1, min(numba.get_num_threads(), width // 128))  # short rows: threading costs more than it gains
    return np.linspace(0, width, n + 1).astype(np.int64)


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
def conv_scatter(ev_index, ev_val, in_h, in_w, weight_t, nonzero_taps, out, stride_h, stride_w, pad_h, pad_w,
                 dil_h, dil_w, c_per_group, o_per_group, bounds):
    """Events at flat indices of an input [C, in_h, in_w]; weight_t[c, u, v, o]: weight from
    input channel c at tap (u, v) to the o-th output channel of c's group; out[i, j, o]
    accumulates (channel-last for contiguous rows)."""
    kh, kw = weight_t.shape[1], weight_t.shape[2]
    h_out, w_out = out.shape[0], out.shape[1]
    n_events = ev_index.shape[0]
    plane = in_h * in_w
    for chunk in prange(bounds.shape[0] - 1):
        lo, hi = bounds[chunk], bounds[chunk + 1]
        for e in range(n_events):
            c, rest, val = ev_index[e] // plane, ev_index[e] % plane, ev_val[e]
            y, x = rest // in_w, rest % in_w
            o_base = (c // c_per_group) * o_per_group
            if o_base + o_per_group <= lo or o_base >= hi:
                continue
            o_lo, o_hi = max(lo, o_base), min(hi, o_base + o_per_group)
            for u in range(kh):
                ty = y + pad_h - u * dil_h
                if ty < 0 or ty % stride_h != 0 or ty // stride_h >= h_out:
                    continue
                i = ty // stride_h
                for v in range(kw):
                    tx = x + pad_w - v * dil_w
                    if tx < 0 or tx % stride_w != 0 or tx // stride_w >= w_out:
                        continue
                    j = tx // stride_w
                    # row views keep the inner loop a plain contiguous axpy that LLVM vectorises
                    target = out[i, j, o_lo:o_hi]
                    row = weight_t[c, u, v, o_lo - o_base:o_hi - o_base]
                    for o in range(o_hi - o_lo):
                        target[o] += val * row[o]
    synaptic = 0
    weighted = 0.0
    nonzero = 0
    for e in range(n_events):  # counting pass: cheap, and independent of the chunking
        c, rest = ev_index[e] // plane, ev_index[e] % plane
        y, x = rest // in_w, rest % in_w
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
def row_scatter(ev_index, ev_val, weight_t, nonzero_rows, out, bounds):
    """out[row, :] += val · weight_t[feature, :] for each event at flat index
    row·D_in + feature of an input [rows, D_in] (per-token linear layers)."""
    n_events = ev_index.shape[0]
    d_in = weight_t.shape[0]
    for chunk in prange(bounds.shape[0] - 1):
        lo, hi = bounds[chunk], bounds[chunk + 1]
        for e in range(n_events):
            target = out[ev_index[e] // d_in, lo:hi]
            row = weight_t[ev_index[e] % d_in, lo:hi]
            val = ev_val[e]
            for o in range(hi - lo):
                target[o] += val * row[o]
    fan_out = weight_t.shape[1]
    weighted = 0.0
    nonzero = 0
    for e in range(n_events):
        weighted += ev_val[e] * fan_out
        nonzero += nonzero_rows[ev_index[e] % d_in]
    return n_events * fan_out, weighted, nonzero


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


@njit(cache=True, parallel=True)
def attention_qk_first(q, k, v, heads, out):
    """out_h = (Q_h K_hᵀ) V_h from spikes q, k, v [N, D] (0/1). Returns, per head summed:
    coincidences (Σ_j nnz(q[:, j])·nnz(k[:, j])), row scatters × d, value-weighted, nonzero."""
    n_tokens, width = q.shape
    d = width // heads
    stats = np.zeros((heads, 4), dtype=np.int64)
    for h in prange(heads):
        scores = np.zeros((n_tokens, n_tokens), dtype=np.int64)
        q_idx = np.empty(n_tokens, dtype=np.int64)
        k_idx = np.empty(n_tokens, dtype=np.int64)
        coincidences = 0
        for j in range(h * d, (h + 1) * d):
            nq = 0
            nk = 0
            for n in range(n_tokens):
                if q[n, j] != 0:
                    q_idx[nq] = n
                    nq += 1
                if k[n, j] != 0:
                    k_idx[nk] = n
                    nk += 1
            for a in range(nq):
                for b in range(nk):
                    scores[q_idx[a], k_idx[b]] += 1
            coincidences += nq * nk
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
                    for j in range(h * d, (h + 1) * d):
                        if v[m, j] != 0:
                            out[n, j] += a
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
        for n in range(n_tokens):
            nk = 0
            nv = 0
            for j in range(d):
                if k[n, h * d + j] != 0:
                    k_idx[nk] = j
                    nk += 1
                if v[n, h * d + j] != 0:
                    v_idx[nv] = j
                    nv += 1
            for a in range(nk):
                for b in range(nv):
                    kv[k_idx[a], v_idx[b]] += 1
            coincidences += nk * nv
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
