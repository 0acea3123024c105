"""AT-SNN's adaptive token halting on Spikformer-4-384 (CIFAR-100): tokens processed and energy
per inference with and without halting, on the same weights and inputs.

    python benchmarks/at_snn_tokens.py [--inputs 2] [--rate 0.15] [--beta 30 15]

No trained weights are shipped: the weights are evsim's calibrated random weights (seed 0,
every spiking layer firing near --rate on a sample input) and the inputs are seeded random
images, so the figures show what the tool measures, not the paper's accuracy trade-off.
Tokens are counted by the ``halting`` layers (tokens entering each block, per step; plain
Spikformer processes all 64 in each of the 4 blocks and 4 steps = 1024 per inference).
Energy: ``exact`` convention, horowitz45-fp32 (4.6 pJ per MAC, 0.9 pJ per AC), mJ per inference.
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

import energy
import evsim
from evsim.spec import load_spec

PLAIN, HALTING = "spikformer-cifar100-4-384", "at-snn-cifar100-4-384"


def tokens_processed(run) -> int:
    return int(sum(s.total("tokens") for name, s in run.stats.items() if name.endswith(".halt")))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=2)
    parser.add_argument("--rate", type=float, default=0.15)
    parser.add_argument("--beta", type=float, nargs="+", default=[30.0, 15.0])
    args = parser.parse_args(argv)
    plain_spec = load_spec(PLAIN)
    params = evsim.synthetic_weights(plain_spec, seed=0, target_rate=args.rate)
    images = [evsim.sample_input(plain_spec, seed=1 + i) for i in range(args.inputs)]
    plain = evsim.load(plain_spec, params)
    tokens_all = plain_spec.input.T * 4 * 64
    print(f"Spikformer-4-384 CIFAR-100, calibrated random weights at {args.rate} spikes/neuron/step, {args.inputs} seeded "
          f"random images, event engine float64; energy: exact convention, horowitz45-fp32, mJ per inference")
    print(f"{'model':<34} {'tokens/inference':>16} {'tokens %':>9} {'synaptic events (G)':>20} {'energy mJ':>10}")
    base = [plain.run(x, engine="event") for x in images]
    energy_plain = np.mean([energy.estimate(r, "horowitz45-fp32", "exact").total_mj for r in base])
    events_plain = np.mean([sum(s.total("synaptic_events") for s in r.stats.values()) for r in base])
    print(f"{'Spikformer (no halting)':<34} {tokens_all:>16} {100.0:>9.1f} {events_plain / 1e9:>20.4f} {energy_plain:>10.4f}")
    with tempfile.TemporaryDirectory() as tmp:
        for beta in args.beta:
            path = Path(tmp) / f"beta{beta}.yaml"
            path.write_text(f'extends: "{load_spec(HALTING).path}"\nparams: {{beta: {beta}}}\n')
            net = evsim.load(load_spec(path), params)
            runs = [net.run(x, engine="event") for x in images]
            tokens = np.mean([tokens_processed(r) for r in runs])
            events = np.mean([sum(s.total("synaptic_events") for s in r.stats.values()) for r in runs])
            mj = np.mean([energy.estimate(r, "horowitz45-fp32", "exact").total_mj for r in runs])
            agree = np.mean([np.argmax(r.output) == np.argmax(b.output) for r, b in zip(runs, base)])
            print(f"{f'AT-SNN halting γ = 10, β = {beta:g}, ε = 0.01':<34} {tokens:>16.1f} {100 * tokens / tokens_all:>9.1f} "
                  f"{events / 1e9:>20.4f} {mj:>10.4f}   (top-1 equal to Spikformer's on {100 * agree:.0f} % of inputs)")


if __name__ == "__main__":
    main()
