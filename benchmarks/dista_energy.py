"""DISTA's energy, measured: one CIFAR-10 inference of models/dista-cifar10-4-384.yaml (T = 6) run spike by
spike by the event engine on synthetic weights calibrated to a firing rate (no trained weights exist:
the paper published neither code nor energy), priced under every convention and two profiles.

Run: python benchmarks/dista_energy.py [--rates 0.1 0.15 0.25]
"""
from __future__ import annotations

import argparse
import time

import energy
import evsim
from energy.conventions import DEFAULTS

PROFILES = ("horowitz45-fp32", "lemaire-memory-fp32")


def measure(spec_name="dista-cifar10-4-384", rate=0.15, seed=0):
    """(run, {(convention, profile): total mJ}, {field: total count} of the attention layers)."""
    spec = evsim.load_spec(spec_name)
    net = evsim.load(spec, evsim.synthetic_weights(spec, seed=seed, target_rate=rate))
    run = net.run(evsim.sample_input(spec, seed), engine="event")
    table = {(c, p): energy.estimate(run, p, c).total_mj for c in DEFAULTS for p in PROFILES}
    attention = {f: sum(s.total(f) for n, s in run.stats.items() if s.kind == "st_attention")
                 for f in ("attention_coincidences", "synaptic_events", "memory_reads", "memory_writes")}
    return run, table, attention


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rates", type=float, nargs="+", default=[0.1, 0.15, 0.25])
    args = parser.parse_args()
    print("DISTA CIFAR-10 (dista-cifar10-4-384, T = 6, window 2, denoise θ = 0.25), event engine, float64, "
          "synthetic weights calibrated per spiking layer; energy in mJ per inference")
    print(f"{'rate':>5} {'mean rate':>9} " + " ".join(f"{c + '/' + p:>30}" for c in DEFAULTS for p in PROFILES)
          + f" {'attn coinc.':>12} {'attn syn. ev.':>14} {'mem reads':>10} {'mem writes':>10} {'s':>5}")
    for rate in args.rates:
        start = time.perf_counter()
        run, table, attention = measure(rate=rate)
        spikes = sum(s.sum() for s in run.spikes.values())
        neurons = sum(s.size for s in run.spikes.values())
        print(f"{rate:>5.2f} {spikes / neurons:>9.3f} " + " ".join(f"{table[(c, p)]:>30.4g}" for c in DEFAULTS
                                                                    for p in PROFILES)
              + f" {attention['attention_coincidences']:>12,} {attention['synaptic_events']:>14,}"
                f" {attention['memory_reads']:>10,} {attention['memory_writes']:>10,} {time.perf_counter() - start:>5.0f}")


if __name__ == "__main__":
    main()
