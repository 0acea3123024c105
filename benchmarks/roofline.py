"""The measured roofline of exact event scatters on this machine, beside sgemm.

    python benchmarks/roofline.py [--repeats 7] [--threads 2]

For Spikformer-4-384's synaptic shapes (T·N = 4·64 token rows; 384 → 384, 384 → 1536,
1536 → 384) and input densities 3.7 / 5 / 10 / 15 / 25 / 40 %, binary and small-integer
(1–3) inputs × float32 weights, it times:

  blocked   evsim's register-blocked scatter (``blocked_kernels.rows_*``): 64 running sums per
            output tile held in vector registers, events streamed through; the engine's kernel;
  plain     the same scatter with a plain row update per event (the accumulator row goes
            through L1 on every event) — what evsim ran before;
  sgemm     OpenBLAS through NumPy on the dense input (x @ Wᵀ), the dense engine's arithmetic;

and prints additions per second (events × fan-out ÷ time), each kernel's time ÷ sgemm's, and
the density above which sgemm wins (``evsim.engines.event.DENSE_INPUTS_ABOVE`` is set from
it). The roofline is the best blocked rate measured; the engine's efficiency per layer kind
against it is in ``bench_event_engine.py``. Nothing here is asserted.
"""
from __future__ import annotations

import argparse
import os
import platform
import subprocess
import time

import numba
import numpy as np
from numba import njit, prange

from evsim.kinds import kernels

DENSITIES = (0.037, 0.05, 0.10, 0.15, 0.25, 0.40)
SHAPES = ((256, 384, 384), (256, 384, 1536), (256, 1536, 384))   # (rows, D_in, D_out)


@njit(cache=True, parallel=True)
def plain_rows(ev_index, ev_val, row_start, weight_t, out):
    d_in = weight_t.shape[0]
    for r in prange(out.shape[0]):
        target = out[r]
        target[:] = 0
        for e in range(row_start[r], row_start[r + 1]):
            row = weight_t[ev_index[e] % d_in]
            val = ev_val[e]
            for o in range(row.shape[0]):
                target[o] += val * row[o]


def best_time(fn, repeats):
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def machine() -> str:
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return platform.processor() or platform.machine()
    facts = dict(line.split(":", 1) for line in lscpu.splitlines() if ":" in line)
    flags = facts.get("Flags", "")
    vector = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "SSE"
    caches = ", ".join(f"{k.strip()} {facts[k].strip()}" for k in facts if k.strip() in ("L1d cache", "L2 cache", "L3 cache"))
    return f"{facts.get('Model name', '?').strip()}; {vector}; {caches}"


def measure(rows, d_in, d_out, density, integer, repeats, rng):
    x = (rng.random((rows, d_in)) < density).astype(np.float32)
    if integer:
        x *= rng.integers(1, 4, x.shape).astype(np.float32)
    weight = rng.standard_normal((d_out, d_in)).astype(np.float32)
    weight_t = np.ascontiguousarray(weight.T)
    fan = np.full(x.size, d_out, dtype=np.int64)
    index, values, starts, _ = kernels.counted_events(x.reshape(1, -1), d_in, fan, fan)
    out = np.empty((rows, d_out), dtype=np.float32)
    binary = not integer
    blocked = best_time(lambda: kernels.blocked_rows(index, values, starts, weight_t, out, binary), repeats)
    plain = best_time(lambda: plain_rows(index, values, starts, weight_t, out), repeats)
    sgemm = best_time(lambda: x @ weight.T, repeats)
    return index.size * d_out, blocked, plain, sgemm


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    args = parser.parse_args()
    numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))
    print(f"machine: {machine()}; {os.cpu_count()} cores; numba {numba.__version__} ({numba.get_num_threads()} threads, "
          f"SLP vectoriser {'on' if numba.config.SLP_VECTORIZE else 'off'}); numpy {np.__version__}; float32 weights")
    rng = np.random.default_rng(0)
    best = 0.0
    print(f"\n{'shape (rows×in→out)':<22} {'input':<7} {'density':>7} {'blocked G adds/s':>16} {'plain':>7} "
          f"{'blocked/sgemm time':>18} {'plain/sgemm':>11}")
    crossover = {}
    for rows, d_in, d_out in SHAPES:
        for integer in (False, True):
            for density in DENSITIES:
                adds, blocked, plain, sgemm = measure(rows, d_in, d_out, density, integer, args.repeats, rng)
                best = max(best, adds / blocked)
                key = (rows, d_in, d_out, integer)
                if blocked > sgemm and key not in crossover:
                    crossover[key] = density
                print(f"{rows}×{d_in}→{d_out:<10} {'1–3' if integer else 'spikes':<7} {density:>7.1%} {adds / blocked / 1e9:>16.1f} "
                      f"{adds / plain / 1e9:>7.1f} {blocked / sgemm:>18.2f} {plain / sgemm:>11.2f}")
    print(f"\nroofline (best blocked rate measured): {best / 1e9:.1f} × 10⁹ additions/s")
    for (rows, d_in, d_out, integer), density in crossover.items():
        print(f"sgemm faster from {density:.0%} input density on {rows}×{d_in}→{d_out} ({'integer' if integer else 'binary'} inputs)")
    if not crossover:
        print(f"the blocked scatter beat sgemm at every density up to {DENSITIES[-1]:.0%}")


if __name__ == "__main__":
    main()
