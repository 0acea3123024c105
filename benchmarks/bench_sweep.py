"""Scaling of `evsim sweep` on this machine: throughput with 1 and 2 workers, and the cost of
one Dask task.

    python benchmarks/bench_sweep.py [--model spikformer-cifar10-4-256] [--inputs 24] [--chunk-size 4]

Measures, on a LocalCluster of single-threaded worker processes:
  1. cluster start + the per-worker Numba warm-up (the fixed cost of a sweep);
  2. steady throughput (inputs/s) of a sweep of --inputs inputs, each worker's network
     already loaded (a first small sweep loads it), for 1 worker × 1 Numba thread,
     2 workers × 1 Numba thread, and 1 worker × 2 Numba threads; the efficiency of the
     added worker is speedup / 2; "CPU share" is the CPU seconds the workers got
     while running chunks over (workers × Numba threads × wall time): below 100 %, other
     work on the machine took the cores, and the scaling figures say more about it than
     about evsim;
  3. the per-task overhead (scheduling, shipping the job and the rows, the Parquet write,
     the manifest): a tiny network, --tiny-inputs inputs as one-input chunks vs one chunk,
     (T(1-input chunks) − T(one chunk)) / (tasks − 1).
Each sweep prices every input under 2 conventions × 2 profiles. Nothing here is asserted.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

import evsim
from evsim.sweep import read_sweep, run_sweep
from evsim.sweep.cluster import WARMUP_SPEC, NumbaWarmup, machine_cores

ROOT = Path(__file__).resolve().parent.parent


def write_sweep(folder: Path, spec: Path, inputs: int, chunk_size: int, name: str) -> Path:
    """A sweep file over ``inputs`` seeded sample inputs of ``spec`` (synthetic weights, 15 %)."""
    model = evsim.load_spec(spec)
    np.save(folder / f"{name}.npy", np.stack([evsim.sample_input(model, 1000 + i) for i in range(inputs)]))
    path = folder / f"{name}.yaml"
    path.write_text(f"specs:\n  - {{spec: {spec}, synthetic_rate: 0.15, seed: 0}}\ninputs: {name}.npy\n"
                    f"conventions: [paper, exact]\nprofiles: [horowitz45-fp32, loihi]\nchunk_size: {chunk_size}\n")
    return path


def timed(sweep, scheduler, output):
    """Wall seconds of one sweep into a fresh folder, and the workers' CPU seconds in chunks."""
    sweep = dataclasses.replace(sweep, output=str(output))
    start = time.perf_counter()
    outcome = run_sweep(sweep, scheduler=scheduler, progress=False, log=lambda line: None)
    wall = time.perf_counter() - start
    assert not outcome.failed, outcome.failed
    chunks = json.loads((output / "manifest.json").read_text())["chunks"]
    return wall, sum(c["cpu_seconds"] for c in chunks)


def cluster(workers: int, numba_threads: int):
    """A LocalCluster like `evsim sweep` starts, with a chosen Numba thread count; returns
    (cluster, seconds to start it and warm Numba on every worker)."""
    from distributed import Client, LocalCluster
    start = time.perf_counter()
    local = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                         silence_logs=logging.CRITICAL, env={"NUMBA_NUM_THREADS": str(numba_threads)})
    with Client(local) as client:
        client.register_plugin(NumbaWarmup("float64"))
    return local, time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="spikformer-cifar10-4-256")
    parser.add_argument("--inputs", type=int, default=24)
    parser.add_argument("--chunk-size", type=int, default=4)
    parser.add_argument("--tiny-inputs", type=int, default=48)
    args = parser.parse_args()
    spec = ROOT / "models" / f"{args.model}.yaml"
    print(f"machine: {platform.machine()}, {machine_cores()} cores ({os.cpu_count()} CPUs), Python "
          f"{platform.python_version()}; model {args.model}, synthetic weights at 15 %, float64, event engine; "
          f"{args.inputs} inputs in chunks of {args.chunk_size}, 2 conventions × 2 profiles per input; "
          f"load average at start {os.getloadavg()[0]:.2f} (other work on the machine skews every figure)")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        sweep = read_sweep(write_sweep(folder, spec, args.inputs, args.chunk_size, "main"))
        warm = read_sweep(write_sweep(folder, spec, 4, 1, "warm"))
        rows = []
        for workers, threads in ((1, 1), (2, 1), (1, 2)):
            local, start_s = cluster(workers, threads)
            try:
                load_s, _ = timed(warm, local.scheduler_address, folder / f"warm-{workers}-{threads}")
                wall, cpu = timed(sweep, local.scheduler_address, folder / f"run-{workers}-{threads}")
            finally:
                local.close()
            rows.append((workers, threads, start_s, load_s, wall, args.inputs / wall, cpu / args.inputs,
                         cpu / (wall * workers * threads)))
        base = rows[0][5]
        print("\n| workers × Numba threads | cluster start + warm-up | first sweep (network load) | sweep wall | "
              "throughput | speedup | efficiency per worker | CPU s per input | CPU share |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for workers, threads, start_s, load_s, wall, rate, cpu_per_input, share in rows:
            print(f"| {workers} × {threads} | {start_s:.1f} s | {load_s:.1f} s | {wall:.2f} s | {rate:.2f} inputs/s | "
                  f"{rate / base:.2f}× | {rate / base / workers:.0%} | {cpu_per_input:.2f} s | {share:.0%} |")

        tiny = read_sweep(write_sweep(folder, WARMUP_SPEC, args.tiny_inputs, 1, "tiny"))
        local, _ = cluster(1, 1)
        try:
            timed(tiny, local.scheduler_address, folder / "tiny-warm")
            per_input, per_input_cpu = timed(tiny, local.scheduler_address, folder / "tiny-1")
            one_chunk = dataclasses.replace(tiny, chunk_size=args.tiny_inputs)
            whole, whole_cpu = timed(one_chunk, local.scheduler_address, folder / "tiny-all")
        finally:
            local.close()
        overhead = (per_input - whole) / (args.tiny_inputs - 1)
        print(f"\nper-task overhead (1 worker, tiny network, {args.tiny_inputs} inputs): "
              f"{args.tiny_inputs} one-input chunks {per_input:.2f} s (worker CPU in chunks {per_input_cpu:.2f} s), "
              f"one chunk {whole:.2f} s (worker CPU {whole_cpu:.2f} s) → {overhead * 1e3:.1f} ms per task")
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
