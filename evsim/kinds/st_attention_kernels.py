"""Numba kernel of ``st_attention``: Q at one step against the keys and values of a window of
steps (stacked as rows), with the denoising mask on the integer scores."""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from .kernels import _add_coincidences


@njit(cache=True, parallel=True)
def windowed_attention(q, k, v, heads, min_score, out):
    """out_h += M(Q_h K_hᵀ) V_h for integer spikes q [N, D] and k, v [M, D] (M = keys of the window),
    M(a) = a where a ≥ min_score, else 0. Per feature j every (q token, key row) pair spiking on it is
    a coincidence adding 1 to a score; each kept score a adds into its q token only where V's row has
    spikes. Returns, summed over heads (as ``attention``): coincidences, kept scores × d (every row
    dense), additions event by event Σ_kept nnz(V[m]), and the same weighted by a."""
    n_q, width = q.shape
    n_k = k.shape[0]
    d = width // heads
    stats = np.zeros((heads, 4), dtype=np.int64)
    for h in prange(heads):
        scores = np.zeros((n_q, n_k), dtype=np.int64)
        q_idx = np.empty(n_q, dtype=np.int64)
        k_idx = np.empty(n_k, dtype=np.int64)
        coincidences = 0
        for j in range(h * d, (h + 1) * d):  # feature j: every (q token, key row) pair spiking on it
            coincidences += _add_coincidences(q[:, j], k[:, j], scores, q_idx, k_idx)
        v_nnz = np.zeros(n_k, dtype=np.int64)
        for m in range(n_k):
            for j in range(h * d, (h + 1) * d):
                if v[m, j] != 0:
                    v_nnz[m] += 1
        kept = 0
        weighted = 0
        nonzero = 0
        for n in range(n_q):
            target = out[n, h * d:(h + 1) * d]
            for m in range(n_k):
                a = scores[n, m]
                if a != 0 and a >= min_score:
                    kept += 1
                    weighted += a * v_nnz[m]
                    nonzero += v_nnz[m]
                    row = v[m, h * d:(h + 1) * d]
                    for j in range(d):
                        target[j] += a * row[j]
        stats[h, 0] = coincidences
        stats[h, 1] = kept * d
        stats[h, 2] = nonzero
        stats[h, 3] = weighted
    return stats.sum(axis=0)
