"""Speed of attention's two event-engine paths, per order, shape, firing rate and thread count:
strict (``attention_bits``: bit-packed values and counts) and mixed (float matmuls in the
cheaper association for the values + ``attention_counts`` for the counts).

    python benchmarks/bench_attention.py [--repeats 5]

Shapes: Spikformer's CIFAR attention (T = 4, 64 tokens, D = 384, 12 heads) and an ImageNet-size
one (196 tokens, 6 heads). Random independent spikes; best of --repeats × 10 calls after a
warm-up. Nothing is asserted: the README reports what this printed, with the machine.
"""
from __future__ import annotations

import argparse
import platform
import time
from functools import partial

import numba
import numpy as np

from evsim.kinds.attention import Attention
from evsim.kinds.attention_bits import attention_bits, attention_counts

SHAPES = [(4, 64, 384, 12), (4, 196, 384, 6)]


def best_ms(call, repeats):
    call()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(10):
            call()
        best = min(best, (time.perf_counter() - start) / 10)
    return best * 1e3


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, numba {numba.__version__}, float32; ms per call over all steps and heads")
    print(f"{'steps, tokens, D, heads':>24} {'threads':>7} {'rate':>5} {'order':>9} {'strict ms':>9} "
          f"{'counts ms':>9} {'matmul ms':>9} {'mixed ms':>8} {'strict ÷ mixed':>14}")
    rng = np.random.default_rng(0)
    threads = numba.get_num_threads()
    for steps, tokens, width, heads in SHAPES:
        for n_threads in sorted({1, threads}):
            numba.set_num_threads(n_threads)
            for rate in (0.037, 0.15):
                q, k, v = ((rng.random((steps, tokens, width)) < rate).astype(np.float32) for _ in range(3))
                out = np.empty_like(q)
                for order in ("qk_first", "kv_first"):
                    layer = Attention("attention", ("q", "k", "v"), heads=heads, order=order)
                    strict = best_ms(partial(attention_bits, q, k, v, heads, order, 0.125, out), args.repeats)
                    counts = best_ms(partial(attention_counts, q, k, v, heads, order), args.repeats)
                    matmul = best_ms(partial(layer._product, [q, k, v], tokens < width // heads), args.repeats)
                    print(f"{str((steps, tokens, width, heads)):>24} {n_threads:>7} {rate:>5.1%} {order:>9} "
                          f"{strict:>9.2f} {counts:>9.2f} {matmul:>9.2f} {counts + matmul:>8.2f} "
                          f"{strict / (counts + matmul):>14.2f}")
    numba.set_num_threads(threads)


if __name__ == "__main__":
    main()
