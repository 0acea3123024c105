"""Speed of the event engine: a table anyone can reproduce.

    python benchmarks/bench_event_engine.py [--repeats 3] [--threads 2] [--dtype float32]

Measures, on this machine:
  1. the roofline: evsim's register-blocked scatter alone (``roofline.py`` for every density);
  2. where the engine's time goes per layer kind (Spikformer-4-384, CIFAR, 15 %), each
     synaptic kind's events per second against the roofline, and the non-synaptic share;
  3. time per image at calibrated firing rates 3.7/5/10/15/25 %: event engine (mixed and
     --strict-events), dense engine and the official Spikformer in PyTorch + SpikingJelly
     (same thread count, batch 1, interleaved in one loop), with the ratios to SpikingJelly;
  4. throughput mode: per-image time with --batch images run together (the event engine's
     ``run_batch``; SpikingJelly with the same batch), interleaved likewise.
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

import roofline  # benchmarks/roofline.py (the script's own folder is on sys.path)

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "models" / "spikformer-cifar10-4-384.yaml"
SYNAPTIC = ("conv2d", "linear")


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
        run = net.run(x, engine="event", dtype=dtype, strict_events=True)
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


def spikingjelly_forward(threads, batch=1):
    """The official Spikformer-4-384 (CIFAR) in PyTorch + SpikingJelly 0.0.0.0.14, ``batch`` images per call."""
    try:
        import torch
        from spikingjelly.clock_driven import functional

        from evsim.importers.torch_spikformer import Spikformer
    except ImportError as err:
        return None, f"not measured ({err.name} not installed)"
    torch.set_num_threads(threads)
    model = Spikformer("cifar", 384, 12, 4, 10, 3, 32, 4).eval()
    image = torch.randn(batch, 3, 32, 32)

    def forward():
        functional.reset_net(model)
        with torch.no_grad():
            model(image)
    return forward, f"torch {torch.__version__}, float32, {threads} threads"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    parser.add_argument("--batch", type=int, default=8, help="images per call in the throughput table (4.)")
    parser.add_argument("--rates", type=float, nargs="+", default=[0.037, 0.05, 0.10, 0.15, 0.25])
    parser.add_argument("--skip", nargs="*", default=[], choices=["kinds", "batch1", "batch"], help="tables to leave out")
    args = parser.parse_args()
    numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))
    dtype = np.dtype(args.dtype)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; numba {numba.__version__} "
          f"with {numba.get_num_threads()} threads; numpy {np.__version__}; dtype {dtype}")

    rng = np.random.default_rng(0)
    adds, blocked, _, _ = roofline.measure(256, 384, 1536, 0.15, False, args.repeats * 3, rng)
    roofline_rate = adds / blocked
    print(f"\n1. roofline — evsim's register-blocked scatter alone (4·64 token rows × 384 → 1536, 15 % binary input; "
          f"benchmarks/roofline.py has every density): {roofline_rate / 1e9:.1f} × 10⁹ additions/s")

    spec = evsim.load_spec(SPEC)
    x = evsim.sample_input(spec, 0)
    if "kinds" not in args.skip:
        where_the_time_goes(spec, x, dtype, roofline_rate)
    if "batch1" not in args.skip:
        per_image(spec, x, dtype, roofline_rate, args)
    if "batch" not in args.skip:
        throughput(spec, dtype, args)


def where_the_time_goes(spec, x, dtype, roofline_rate):
    print(f"\n2. where the time goes — {spec.name}, calibrated rate 15 %, --strict-events (every layer scatters)")
    net = evsim.load(spec, evsim.synthetic_weights(spec, seed=0, target_rate=0.15))
    net.run(x, engine="event", dtype=dtype, strict_events=True)  # compiles every kernel variant the timed run uses
    spent = per_kind_rates(net, x, dtype)
    total = sum(seconds for _, seconds in spent.values())
    print(f"   {'kind':<14} {'events':>14} {'ms':>8} {'share':>6} {'10⁹ events/s':>13} {'% of roofline':>13}")
    for kind, (events, seconds) in sorted(spent.items(), key=lambda item: -item[1][1]):
        rate = events / seconds if seconds else 0.0
        share_of_roofline = f"{rate / roofline_rate:>13.0%}" if kind in SYNAPTIC else f"{'':>13}"
        print(f"   {kind:<14} {events:>14,} {seconds * 1e3:>8.1f} {seconds / total:>6.0%} {rate / 1e9:>13.2f} {share_of_roofline}")
    synaptic_seconds = sum(seconds for kind, (_, seconds) in spent.items() if kind in SYNAPTIC)
    print(f"   non-synaptic work (every kind but {', '.join(SYNAPTIC)}): {1 - synaptic_seconds / total:.0%} of the layers' time")


def per_image(spec, x, dtype, roofline_rate, args):
    sj_forward, note = spikingjelly_forward(numba.get_num_threads())
    print(f"\n3. time per image — {spec.name} (T = {spec.input.T}), batch 1, best of {args.repeats}, interleaved "
          f"with the official model in PyTorch + SpikingJelly ({note}); event = mixed execution (dense-input "
          f"layers through BLAS), strict = --strict-events")
    print(f"   {'rate':>5} {'events/image':>14} {'event ms':>9} {'strict ms':>9} {'dense ms':>9} {'SJ ms':>7} "
          f"{'event/SJ':>8} {'strict/SJ':>9} {'BLAS layers':>11} {'% of roofline':>13}")
    for rate in args.rates:
        net = evsim.load(spec, evsim.synthetic_weights(spec, seed=0, target_rate=rate))
        run = net.run(x, engine="event", dtype=dtype)
        events = sum(s.total("synaptic_events") + s.total("attention_coincidences") for s in run.stats.values())
        times = {"event": [], "strict": [], "dense": [], "sj": []}
        jobs = {"event": lambda net=net: net.run(x, engine="event", dtype=dtype),
                "strict": lambda net=net: net.run(x, engine="event", dtype=dtype, strict_events=True),
                "dense": lambda net=net: net.run(x, engine="dense", dtype=dtype)}
        if sj_forward:
            jobs["sj"] = sj_forward
        for job in jobs.values():
            job()
        for _ in range(args.repeats):  # interleaved: a disturbance on the shared machine hits every contender
            for name, job in jobs.items():
                start = time.perf_counter()
                job()
                times[name].append(time.perf_counter() - start)
        best = {name: min(t) if t else float("nan") for name, t in times.items()}
        blas = sum(path == "dense" for path in run.execution.values())
        print(f"   {rate:>5.1%} {events:>14,} {best['event'] * 1e3:>9.1f} {best['strict'] * 1e3:>9.1f} "
              f"{best['dense'] * 1e3:>9.1f} {best['sj'] * 1e3:>7.1f} {best['event'] / best['sj']:>8.2f} "
              f"{best['strict'] / best['sj']:>9.2f} {blas:>11} {events / best['strict'] / roofline_rate:>13.0%}")



def interleaved(jobs, repeats):
    """Best time of each job over ``repeats`` rounds, one call of every job per round."""
    times = {name: [] for name in jobs}
    for job in jobs.values():
        job()
    for _ in range(repeats):
        for name, job in jobs.items():
            start = time.perf_counter()
            job()
            times[name].append(time.perf_counter() - start)
    return {name: min(t) for name, t in times.items()}


def throughput(spec, dtype, args):
    from evsim.engines import event
    batch = args.batch
    sj_one, note = spikingjelly_forward(numba.get_num_threads())
    sj_batch, _ = spikingjelly_forward(numba.get_num_threads(), batch)
    images = [evsim.sample_input(spec, seed) for seed in range(batch)]
    print(f"\n4. throughput mode — ms per image, {batch} images per call (evsim: run_batch, mixed execution; "
          f"SpikingJelly: a batch of {batch}; {note}), beside batch 1; best of {args.repeats}, interleaved")
    print(f"   {'rate':>5} {'evsim b=1':>10} {f'evsim b={batch}':>10} {'SJ b=1':>8} {f'SJ b={batch}':>8} "
          f"{'evsim gain':>10} {f'b={batch} evsim/SJ':>14}")
    for rate in args.rates:
        net = evsim.load(spec, evsim.synthetic_weights(spec, seed=0, target_rate=rate))
        plan = net.plan("event", dtype)
        jobs = {"one": lambda plan=plan: [event.run(plan, x) for x in images],
                "batch": lambda plan=plan: event.run_batch(plan, images)}
        if sj_one:
            jobs["sj_one"] = lambda: [sj_one() for _ in images]
            jobs["sj_batch"] = sj_batch
        best = {name: t / batch for name, t in interleaved(jobs, args.repeats).items()}
        sj = (best.get("sj_one", float("nan")), best.get("sj_batch", float("nan")))
        print(f"   {rate:>5.1%} {best['one'] * 1e3:>10.1f} {best['batch'] * 1e3:>10.1f} {sj[0] * 1e3:>8.1f} "
              f"{sj[1] * 1e3:>8.1f} {best['one'] / best['batch']:>10.2f} {best['batch'] / sj[1]:>14.2f}")


if __name__ == "__main__":
    main()
