"""Speed of the event engine: a table anyone can reproduce.

    python benchmarks/bench_event_engine.py [--repeats 3] [--threads 2] [--dtype float32]

Measures, on this machine:
  1. the ceiling: a bare Numba row scatter (out[r] += w[f] for each event), additions/s;
  2. synaptic events per second per layer kind inside the engine (Spikformer-4-384, CIFAR);
  3. time per image at calibrated firing rates 5/10/15/25 %, event vs dense engine;
  4. the official Spikformer in PyTorch + SpikingJelly on the CPU with the same thread
     count, when torch and spikingjelly are installed (batch 1).
Timings are the best of --repeats runs after one warm-up; nothing here is asserted.
"""
from __future__ import annotations

import argparse
import collections
import os
import platform
import time
from pathlib import Path

import numba
import numpy as np

import evsim
from evsim.spec import kinds

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "models" / "spikformer-cifar10-4-384.yaml"


def best_time(fn, repeats):
    """Fastest of ``repeats`` runs after a warm-up: on a shared machine the minimum is the
    least disturbed measurement of the same work."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


@numba.njit(cache=True)
def bare_row_scatter(rows, features, weight_t, out):
    """The ceiling: nothing but out[row] += weight_t[feature] per event."""
    for e in range(rows.shape[0]):
        target = out[rows[e]]
        row = weight_t[features[e]]
        for o in range(row.shape[0]):
            target[o] += row[o]


@numba.njit(cache=True, parallel=True)
def bare_row_scatter_parallel(rows, features, weight_t, out):
    half = weight_t.shape[1] // 2
    for chunk in numba.prange(2):
        lo, hi = chunk * half, (chunk + 1) * half if chunk == 0 else weight_t.shape[1]
        for e in range(rows.shape[0]):
            target = out[rows[e], lo:hi]
            row = weight_t[features[e], lo:hi]
            for o in range(hi - lo):
                target[o] += row[o]


def row_scatter_ceiling(repeats, dtype):
    rng = np.random.default_rng(0)
    n_tokens, d_in, d_out = 64, 384, 1536
    x = rng.random((n_tokens, d_in)) < 0.15
    weight_t = rng.standard_normal((d_in, d_out)).astype(dtype)
    rows, features = np.nonzero(x)
    out = np.zeros((n_tokens, d_out), dtype=dtype)
    results = {}
    for threads, kernel in ((1, bare_row_scatter), (2, bare_row_scatter_parallel)):
        seconds = best_time(lambda kernel=kernel: kernel(rows, features, weight_t, out), repeats * 20)
        results[threads] = len(rows) * d_out / seconds
    return results


def per_kind_rates(net, x, dtype):
    spent = collections.Counter()
    registered = kinds()
    original = {kind: cls.__dict__.get("event") for kind, cls in registered.items()}

    def timed(kind, fn):
        def wrapper(*args):
            start = time.perf_counter()
            out = fn(*args)
            spent[kind] += time.perf_counter() - start
            return out
        return wrapper
    for kind, cls in registered.items():  # time each kind's event step (all T steps of a layer per call)
        cls.event = timed(kind, cls.event)
    try:
        run = net.run(x, engine="event", dtype=dtype)
    finally:
        for kind, cls in registered.items():
            if original[kind] is None:
                del cls.event
            else:
                cls.event = original[kind]
    events = collections.Counter()
    for stats in run.stats.values():
        events[stats.kind] += stats.total("synaptic_events") + stats.total("attention_coincidences")
    return {kind: (events[kind], spent[kind]) for kind in spent}


def spikingjelly_time(spec, repeats, threads):
    try:
        import torch
        from spikingjelly.clock_driven import functional

        from evsim.importers.torch_spikformer import Spikformer
    except ImportError as err:
        return None, f"not measured ({err.name} not installed)"
    torch.set_num_threads(threads)
    model = Spikformer("cifar", 384, 12, 4, 10, 3, 32, 4).eval()
    image = torch.randn(1, 3, 32, 32)

    def forward():
        functional.reset_net(model)
        with torch.no_grad():
            model(image)
    return best_time(forward, repeats), f"torch {torch.__version__}, float32, batch 1, {threads} threads"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    args = parser.parse_args()
    numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))
    dtype = np.dtype(args.dtype)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; numba {numba.__version__} "
          f"with {numba.get_num_threads()} threads; numpy {np.__version__}; dtype {dtype}")

    ceiling = row_scatter_ceiling(args.repeats, dtype)
    print("\n1. ceiling — bare Numba row scatter (64 tokens × 384 → 1536, 15 % input density)")
    for threads, rate in ceiling.items():
        print(f"   {threads} thread(s): {rate / 1e9:6.2f} × 10⁹ additions/s")

    spec = evsim.load_spec(SPEC)
    x = evsim.sample_input(spec, 0)
    print(f"\n2. synaptic events per second by layer kind — {spec.name}, calibrated rate 15 %")
    net = evsim.load(spec, evsim.synthetic_weights(spec, seed=0, target_rate=0.15))
    net.run(x, engine="event", dtype=dtype)
    print(f"   {'kind':<11} {'events':>14} {'seconds':>9} {'10⁹ events/s':>13}")
    for kind, (events, seconds) in sorted(per_kind_rates(net, x, dtype).items()):
        print(f"   {kind:<11} {events:>14,} {seconds:>9.4f} {events / seconds / 1e9 if seconds else 0:>13.2f}")

    print(f"\n3. time per image — {spec.name} (T = {spec.input.T}), batch 1, best of {args.repeats}")
    print(f"   {'rate':>5} {'events/image':>14} {'event ms':>9} {'dense ms':>9} {'dense/event':>11} {'10⁹ events/s':>13} {'% of ceiling':>12}")
    at_15 = None
    for rate in (0.05, 0.10, 0.15, 0.25):
        net = evsim.load(spec, evsim.synthetic_weights(spec, seed=0, target_rate=rate))
        run = net.run(x, engine="event", dtype=dtype)
        events = sum(s.total("synaptic_events") + s.total("attention_coincidences") for s in run.stats.values())
        event_s = best_time(lambda net=net: net.run(x, engine="event", dtype=dtype), args.repeats)
        dense_s = best_time(lambda net=net: net.run(x, engine="dense", dtype=dtype), args.repeats)
        throughput = events / event_s
        at_15 = event_s if rate == 0.15 else at_15
        print(f"   {rate:>5.0%} {events:>14,} {event_s * 1e3:>9.1f} {dense_s * 1e3:>9.1f} {dense_s / event_s:>11.2f} "
              f"{throughput / 1e9:>13.2f} {throughput / max(ceiling.values()):>12.0%}")

    sj_seconds, note = spikingjelly_time(spec, args.repeats, numba.get_num_threads())
    print(f"\n4. official Spikformer-4-384 (PyTorch + SpikingJelly, {note})")
    if sj_seconds:
        print(f"   {sj_seconds * 1e3:.1f} ms per image; evsim event engine at 15 %: {at_15 * 1e3:.1f} ms "
              f"(ratio evsim / SpikingJelly = {at_15 / sj_seconds:.2f})")


if __name__ == "__main__":
    main()
