"""AT-SNN's adaptive tokens on Spikformer-4-384 (CIFAR-100): tokens processed and energy per
inference with and without token halting and token merging, on the same weights and inputs.

    python benchmarks/at_snn_tokens.py [--inputs 2] [--rate 0.15] [--beta 30 15] [--r 8] [--threshold 0.9]

No trained weights are shipped: the weights are evsim's calibrated random weights (seed 0,
every spiking layer firing near --rate on a sample input) and the inputs are seeded random
images, so the figures show what the tool measures, not the paper's accuracy trade-off.
Tokens are counted by each block's gate (``halting`` or ``token_merge``: the tokens the
block processes, per step; plain Spikformer processes all 64 in each of the 4 blocks and 4
steps = 1024 per inference). Energy: ``exact`` convention, horowitz45-fp32 (4.6 pJ per MAC,
0.9 pJ per AC), mJ per inference — once with analog inputs priced as MAC (evsim's default;
merged tokens are averages of spike counts, hence analog, so every layer reading the merged
stream is priced as MAC) and once with analog inputs as AC.
"""
from __future__ import annotations

import argparse
import tempfile

import numpy as np

import energy
import evsim
from energy.measured import PLAIN, blocks_tokens, tokens_processed, variant_spec
from evsim.spec import load_spec

AT_SNN = "at-snn-cifar100-4-384"


def configurations(args) -> list[tuple[str, dict]]:
    rows = [("Spikformer (no halting, no merging)", PLAIN)]
    rows += [(f"halting γ = 10, β = {beta:g}, ε = 0.01", {"halting": 1, "merging": 0, "beta": beta}) for beta in args.beta]
    rows += [(f"merging r = {r}", {"halting": 0, "merging": 1, "merge_r": r}) for r in args.r]
    rows += [(f"merging cos > {t:g}", {"halting": 0, "merging": 1, "merge_threshold": t}) for t in args.threshold]
    rows += [(f"halting β = {args.beta[0]:g} + merging r = {r}", {"halting": 1, "merging": 1, "beta": args.beta[0], "merge_r": r})
             for r in args.r]
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=2)
    parser.add_argument("--rate", type=float, default=0.15)
    parser.add_argument("--beta", type=float, nargs="+", default=[30.0, 15.0])
    parser.add_argument("--r", type=int, nargs="*", default=[8], help="merges per block and step")
    parser.add_argument("--threshold", type=float, nargs="*", default=[0.9], help="cosine thresholds of merging")
    args = parser.parse_args(argv)
    base = load_spec(AT_SNN)
    with tempfile.TemporaryDirectory() as tmp:
        plain_spec = variant_spec(base, tmp, "plain", PLAIN)
        params = evsim.synthetic_weights(plain_spec, seed=0, target_rate=args.rate)
        images = [evsim.sample_input(plain_spec, seed=1 + i) for i in range(args.inputs)]
        print(f"Spikformer-4-384 CIFAR-100, calibrated random weights at {args.rate} spikes/neuron/step, {args.inputs} "
              f"seeded random images, event engine float64; energy: exact convention, horowitz45-fp32, mJ per inference")
        print(f"{'model':<36} {'tokens/inference':>16} {'tokens %':>9} {'synaptic events (G)':>20} "
              f"{'mJ (analog MAC)':>16} {'mJ (analog AC)':>15}  top-1 = Spikformer's")
        baseline = None
        for k, (label, changes) in enumerate(configurations(args)):
            spec = variant_spec(base, tmp, f"v{k}", changes)
            runs = [evsim.load(spec, params).run(x, engine="event") for x in images]
            all_tokens = blocks_tokens(spec) or spec.input.T * 4 * 64
            tokens = np.mean([tokens_processed(r, spec) for r in runs]) if blocks_tokens(spec) else all_tokens
            events = np.mean([sum(s.total("synaptic_events") for s in r.stats.values()) for r in runs])
            mac, ac = (np.mean([energy.estimate(r, "horowitz45-fp32", "exact", analog_as_mac=m).total_mj for r in runs])
                       for m in (True, False))
            baseline = baseline or runs
            agree = np.mean([np.argmax(r.output) == np.argmax(b.output) for r, b in zip(runs, baseline)])
            print(f"{label:<36} {tokens:>16.1f} {100 * tokens / all_tokens:>9.1f} {events / 1e9:>20.4f} "
                  f"{mac:>16.4f} {ac:>15.4f}  {100 * agree:.0f} % of inputs")


if __name__ == "__main__":
    main()
