"""Bit-packed kernels of ``attention`` on binary spikes: every step and head in one call.

Spikes are packed 64 to a word, so a binary × binary product is AND + popcount:

    S = Q Kᵀ   S[n, m] = Σ_w popcount(Q[n, w] & K[m, w])       (words over a head's features)
    M = Kᵀ V   M[i, j] = Σ_w popcount(Kᵀ[i, w] & Vᵀ[j, w])     (words over the tokens)

The second product multiplies those small integers by binary spikes. The integers are cut
into bit planes, a = Σ_b 2^b a_b, so it is AND + popcount again, plane by plane:

    (Q Kᵀ) V   out[n, j] = Σ_b 2^b Σ_w popcount(S_b[n, w] & Vᵀ[j, w])
    Q (Kᵀ V)   out[n, j] = Σ_b 2^b Σ_w popcount(Q[n, w] & M_bᵀ[j, w])

Both associations give the same integers, so the values are formed by the cheaper one for the
shape (about N²·⌈d/64⌉ + N·d·log₂d·⌈N/64⌉ word operations against d²·⌈N/64⌉ + N·d·log₂N·⌈d/64⌉)
and scaled once: equal bit for bit to the products done event by event (the integers are the
same; the scaling is one rounding either way). The counts are always the declared order's, as
the events would be done one by one, from its intermediate's nonzero structure (one AND per pair):

    qk_first   coincidences Σ_i nnz(Q[:, i])·nnz(K[:, i]); rows nnz(S)·d;
               additions Σ_{S[n,m]≠0} nnz(V[m]); weighted Σ_m nnz(V[m])·Σ_i K[m, i]·nnz(Q[:, i])
    kv_first   coincidences Σ_n nnz(K[n])·nnz(V[n]); rows nnz(Q)·d;
               additions = weighted Σ_i nnz(Q[:, i])·nnz(M[i, :])
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange, types
from numba.extending import intrinsic

from ..stats import nonzero_per_row

WORD = 64
ASSOCIATIONS = ("cheaper", "qk", "kv")
COUNTS_ONLY = len(ASSOCIATIONS)


@intrinsic
def _popcount(typingctx, x):
    """The number of set bits of a uint64 (LLVM's ctpop: one POPCNT instruction)."""
    if x != types.uint64:
        return None

    def codegen(context, builder, signature, args):
        return builder.ctpop(args[0])

    return types.uint64(types.uint64), codegen


@njit(cache=True, inline="always")
def _words(bits):
    return (bits + WORD - 1) // WORD


@njit(cache=True)
def _pack_tokens(x, col0, d, packed):
    """packed[n, w]: the spikes of token n on features col0 … col0 + d − 1, bit i of word i // 64."""
    for n in range(x.shape[0]):
        row = x[n, col0:col0 + d]   # 1-D views throughout: 2-D indexing keeps these loops scalar
        for w in range(packed.shape[1]):
            word = np.uint64(0)
            for i in range(w * WORD, min(d, (w + 1) * WORD)):
                word |= np.uint64(row[i] != 0) << np.uint64(i & 63)
            packed[n, w] = word


@njit(cache=True)
def _pack_features(x, col0, d, packed):
    """packed[i, w]: the spikes of feature col0 + i over the tokens, bit n of word n // 64."""
    packed[:] = 0
    for n in range(x.shape[0]):
        row = x[n, col0:col0 + d]
        word, shift = n >> 6, np.uint64(n & 63)
        for i in range(d):
            packed[i, word] |= np.uint64(row[i] != 0) << shift


@njit(cache=True, inline="always")
def _and_count(a, row_a, b, row_b):
    """Σ_w popcount(a[row_a, w] & b[row_b, w]) (rows by index: a view per call would cost
    two atomic reference counts)."""
    total = np.uint64(0)
    for w in range(a.shape[1]):
        total += _popcount(a[row_a, w] & b[row_b, w])
    return np.int64(total)


@njit(cache=True)
def _bit_length(top):
    depth = 0
    while top >> depth:
        depth += 1
    return depth


@njit(cache=True, inline="always")
def _add_to_planes(planes, lead, i, a):
    """Bit b of a ≥ 0 set at bit i of planes[lead, b], for every plane b (branch-free)."""
    word, shift = i >> 6, np.uint64(i & 63)
    for b in range(planes.shape[1]):
        planes[lead, b, word] |= np.uint64((a >> b) & 1) << shift


@njit(cache=True, inline="always")
def _sliced_product(packed, row, planes, lead, depth):
    """Σ_b 2^b Σ_w popcount(packed[row, w] & planes[lead, b, w]): a binary row · an integer
    column held as bit planes (the first ``depth`` planes are the nonzero ones)."""
    total = 0
    for b in range(depth):
        plane = np.uint64(0)
        for w in range(packed.shape[1]):
            plane += _popcount(packed[row, w] & planes[lead, b, w])
        total += np.int64(plane) << b
    return total


@njit(cache=True)
def _values_qk(q_tok, k_tok, v_feat, d, n_tokens, scale, out, col0):
    """out[:, col0:col0 + d] = scale · (Q Kᵀ) V, a row of S at a time as bit planes over tokens."""
    planes = np.empty((1, _bit_length(d), _words(n_tokens)), dtype=np.uint64)  # a score is at most d
    for n in range(n_tokens):
        planes[:] = 0
        top = 0   # the OR of the scores has the bit length of the largest
        for m in range(n_tokens):
            a = _and_count(q_tok, n, k_tok, m)
            _add_to_planes(planes, 0, m, a)
            top |= a
        depth = _bit_length(top)
        for j in range(d):
            out[n, col0 + j] = _sliced_product(v_feat, j, planes, 0, depth) * scale


@njit(cache=True)
def _values_kv(q_tok, k_feat, v_feat, d, n_tokens, scale, out, col0):
    """out[:, col0:col0 + d] = scale · Q (Kᵀ V), each column of M as bit planes over features."""
    planes = np.zeros((d, _bit_length(n_tokens), _words(d)), dtype=np.uint64)  # an entry is at most N
    depths = np.empty(d, dtype=np.int64)
    for j in range(d):
        top = 0
        for i in range(d):
            a = _and_count(k_feat, i, v_feat, j)
            _add_to_planes(planes, j, i, a)
            top |= a
        depths[j] = _bit_length(top)
    for n in range(n_tokens):
        for j in range(d):
            out[n, col0 + j] = _sliced_product(q_tok, n, planes, j, depths[j]) * scale


@njit(cache=True)
def _spikes_per_token(x, col0, d):
    return nonzero_per_row(x[:, col0:col0 + d])


@njit(cache=True)
def _spikes_per_feature(x, col0, d):
    counts = np.zeros(d, dtype=np.int64)
    for n in range(x.shape[0]):
        row = x[n, col0:col0 + d]
        for i in range(d):
            counts[i] += row[i] != 0
    return counts


@njit(cache=True)
def _counts_qk(q, k, v, col0, d):
    """The four counts of (Q Kᵀ) V (module docstring), work in proportion to the spikes: the
    nonzero scores of row n are the tokens reached by any of q[n]'s features,
    reach[n] = OR over i with Q[n, i] = 1 of Kᵀ[i] (a bit set over tokens), so
    nnz(S[n]) = popcount(reach[n]) and Σ_{m ∈ reach[n]} nnz(V[m]) is AND + popcount against
    the bit planes of nnz(V[·])."""
    n_tokens = q.shape[0]
    k_feat = np.empty((d, _words(n_tokens)), dtype=np.uint64)
    _pack_features(k, col0, d, k_feat)
    v_nnz = _spikes_per_token(v, col0, d)
    q_nnz = _spikes_per_feature(q, col0, d)
    planes = np.zeros((1, _bit_length(d), _words(n_tokens)), dtype=np.uint64)
    top = 0
    for m in range(n_tokens):
        _add_to_planes(planes, 0, m, v_nnz[m])
        top |= v_nnz[m]
    depth = _bit_length(top)
    coincidences = nonzero_scores = synaptic = weighted = 0
    for m in range(n_tokens):
        row = k[m, col0:col0 + d]
        column_sum = 0   # Σ_n S[n, m]
        for i in range(d):
            column_sum += (row[i] != 0) * q_nnz[i]
        weighted += column_sum * v_nnz[m]
        coincidences += column_sum
    reach = np.empty((1, _words(n_tokens)), dtype=np.uint64)
    for n in range(n_tokens):
        row = q[n, col0:col0 + d]
        reach[:] = 0
        for i in range(d):
            if row[i] != 0:
                for w in range(reach.shape[1]):
                    reach[0, w] |= k_feat[i, w]
        nonzero_scores += _and_count(reach, 0, reach, 0)
        synaptic += _sliced_product(reach, 0, planes, 0, depth)
    return coincidences, nonzero_scores * d, synaptic, weighted


@njit(cache=True)
def _counts_kv(q, k, v, col0, d):
    """The four counts of Q (Kᵀ V) (module docstring), work in proportion to the spikes: row i
    of M = KᵀV is nonzero at the features reached by v in any token where k spikes on i,
    reach[i] = OR over n with K[n, i] = 1 of V[n] (a bit set over features), nnz(M[i]) = popcount."""
    n_tokens = q.shape[0]
    v_tok = np.empty((n_tokens, _words(d)), dtype=np.uint64)
    _pack_tokens(v, col0, d, v_tok)
    k_nnz, v_nnz = _spikes_per_token(k, col0, d), _spikes_per_token(v, col0, d)
    q_nnz = _spikes_per_feature(q, col0, d)
    reach = np.zeros((d, _words(d)), dtype=np.uint64)
    coincidences = 0
    for n in range(n_tokens):
        coincidences += k_nnz[n] * v_nnz[n]
        row = k[n, col0:col0 + d]
        for i in range(d):
            if row[i] != 0:
                for w in range(reach.shape[1]):
                    reach[i, w] |= v_tok[n, w]
    q_spikes = synaptic = 0
    for i in range(d):
        q_spikes += q_nnz[i]
        synaptic += q_nnz[i] * _and_count(reach, i, reach, i)
    return coincidences, q_spikes * d, synaptic, synaptic


@njit(cache=True)
def _qk_association_is_cheaper(n_tokens, d):
    qk = n_tokens * n_tokens * _words(d) + n_tokens * d * _bit_length(d) * _words(n_tokens)
    kv = d * d * _words(n_tokens) + n_tokens * d * _bit_length(n_tokens) * _words(d)
    return qk < kv


@njit(cache=True)
def _head(q, k, v, col0, d, qk_first, association, scale, out):
    """One step, one head: writes out[:, col0:col0 + d] and returns the declared order's counts.
    ``association``: 0 the cheaper, 1 (Q Kᵀ) V, 2 Q (Kᵀ V) (the values are the same), 3 none
    (counts only)."""
    if association != COUNTS_ONLY:
        n_tokens = q.shape[0]
        q_tok = np.empty((n_tokens, _words(d)), dtype=np.uint64)
        k_tok = np.empty((n_tokens, _words(d)), dtype=np.uint64)
        k_feat = np.empty((d, _words(n_tokens)), dtype=np.uint64)
        v_feat = np.empty((d, _words(n_tokens)), dtype=np.uint64)
        _pack_tokens(q, col0, d, q_tok)
        _pack_features(v, col0, d, v_feat)
        if association == 1 or (association == 0 and _qk_association_is_cheaper(n_tokens, d)):
            _pack_tokens(k, col0, d, k_tok)
            _values_qk(q_tok, k_tok, v_feat, d, n_tokens, scale, out, col0)
        else:
            _pack_features(k, col0, d, k_feat)
            _values_kv(q_tok, k_feat, v_feat, d, n_tokens, scale, out, col0)
    if qk_first:
        return _counts_qk(q, k, v, col0, d)
    return _counts_kv(q, k, v, col0, d)


@njit(cache=True, parallel=True)
def _attention_bits(q, k, v, heads, qk_first, association, scale, out):
    steps, n_tokens, width = q.shape
    d = width // heads
    stats = np.zeros((steps * heads, 4), dtype=np.int64)
    for task in prange(steps * heads):
        s, h = task // heads, task % heads
        counts = _head(q[s], k[s], v[s], h * d, d, qk_first, association, scale, out[s])
        for c in range(4):
            stats[task, c] = counts[c]
    return stats.reshape(steps, heads, 4).sum(axis=1)


def _checked(q, k, v, heads, order, out, name):
    from .kernels import _array, _require
    for label, a in (("q", q), ("k", k), ("v", v), ("output", out)):
        _array(a, name, label, 3, "fiu")
    _require(q.shape == k.shape == v.shape and out.shape[0] == q.shape[0], name, "q, k, v and the output differ in shape")
    _require(heads >= 1 and q.shape[2] % heads == 0, name, lambda: f"{q.shape[2]} features do not split into {heads} heads")
    _require(order in ("qk_first", "kv_first"), name, lambda: f"unknown order {order!r}")
    return _require


def attention_counts(q, k, v, heads, order):
    """The counts per step [S, 4] of ``attention_bits`` without forming the values (for a run
    whose values come from BLAS: the matmuls of 0/1 spikes are exact integers there too)."""
    out = np.empty((q.shape[0], 0, 0), dtype=q.dtype)
    _checked(q, k, v, heads, order, out, "attention_counts")
    return _attention_bits(q, k, v, heads, order == "qk_first", COUNTS_ONLY, 1.0, out)


def attention_bits(q, k, v, heads, order, scale, out, association="cheaper"):
    """out[s] = scale · Q_h K_hᵀ V_h for every step s and head h of binary spikes q, k, v
    [S, N, D] (float or integer arrays holding 0/1); ``out`` [S, N, D] is overwritten.
    Returns the counts per step [S, 4]: coincidences, row additions, additions event by
    event, value-weighted additions. ``association`` ("cheaper", "qk" or "kv") picks how the
    values are formed; they are the same integers either way."""
    name = "attention_bits"
    require = _checked(q, k, v, heads, order, out, name)
    require(q.shape == out.shape, name, "q, k, v and the output differ in shape")
    require(association in ASSOCIATIONS, name, lambda: f"unknown association {association!r}")
    return _attention_bits(q, k, v, heads, order == "qk_first", ASSOCIATIONS.index(association), float(scale), out)
