"""How wrong is energy from spiking-layer rates alone? The propagation rule's measured error.

For every spec in models/ (ImageNet and DVS shrunk to a smaller image, same structure), on
synthetic weights calibrated to a rate and a seeded input: the event engine's measured
energy, beside analytic energy given the *measured* firing rate of every spiking layer and
nothing else (max-pools, residual sums and attention then follow the independence rule of
each kind's ``output_rate``/``expected``). Prints analytic ÷ measured per convention and
the layers whose input events the rule misses most.

    python benchmarks/bench_rate_rules.py [--rates 0.037 0.15] [--size 64] [--models NAME ...]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import energy  # noqa: E402
import evsim  # noqa: E402
from energy.rates import measured_rates  # noqa: E402
from evsim.spec.graph import shipped_specs  # noqa: E402

# specs with their own trained weights or no calibrated synthetic weights (ViT-LCA's dictionary)
NOT_CALIBRATED = {"spikformer-digits", "vit-lca", "vit-lca-digits"}


def shrunk(model, size, tmp):
    spec = evsim.load_spec(model)
    if spec.input.shape[-1] <= size:
        return spec
    inp = spec.input
    path = Path(tmp) / f"{model}-{size}.yaml"
    path.write_text(f"extends: {ROOT / 'models' / model}.yaml\ninput: {{shape: [{inp.shape[0]}, {size}, {size}], "
                    f"T: {inp.T}, encoding: {inp.encoding}, values: {inp.values}}}\n")
    return evsim.load_spec(path)


def measure(spec, rate, seed=0):
    net = evsim.load(spec, evsim.synthetic_weights(spec, seed=seed, target_rate=rate))
    return compare(spec, [net.run(evsim.sample_input(spec, seed), engine="event")])


def measure_trained(count):
    """The shipped trained model on the first ``count`` digits test images (its own rates)."""
    from evsim import datasets
    from evsim.demo import shipped_model
    spec_path, weights_path, _ = shipped_model()
    net = evsim.load(spec_path, weights_path)
    images, _ = datasets.digits("test")
    return compare(net.spec, [net.run(image, engine="event") for image in images[:count]])


def compare(spec, runs):
    """Analytic energy from the runs' spiking-layer rates ÷ the runs' mean measured energy."""
    from evsim.demo import mean_stats
    from evsim.stats import accumulate_stats
    rates = measured_rates(runs, spec)
    spiking = {n: r for n, r in rates.items() if n == "input" or spec.layers.get(n) is not None and spec.layers[n].spiking}
    analytic = energy.analytic_stats(spec, spiking)
    totals = {}
    for run in runs:
        accumulate_stats(totals, run.stats)
    measured = mean_stats(totals, len(runs))
    ratios = {c: energy.estimate(analytic, "horowitz45-fp32", c).total() / energy.estimate(measured, "horowitz45-fp32", c).total()
              for c in ("paper", "exact")}
    misses = sorted(((analytic[n].total("input_events") / s.total("input_events"), n) for n, s in measured.items()
                     if s.total("dense_synaptic_ops") and s.total("input_events")), reverse=True)
    return ratios, misses


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rates", type=float, nargs="+", default=[0.037, 0.15])
    parser.add_argument("--size", type=int, default=64, help="image size for ImageNet/DVS specs")
    parser.add_argument("--models", nargs="+", default=[m for m in shipped_specs() if m not in NOT_CALIBRATED])
    parser.add_argument("--trained-images", type=int, default=100, help="digits test images for the trained row")
    args = parser.parse_args()
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        print("analytic (spiking-layer rates only, independence rule) ÷ measured energy, horowitz45-fp32")
        print(f"{'spec':<30} {'rate':>6} {'paper':>7} {'exact':>7}  most over-estimated input events (analytic ÷ measured)")
        for model in args.models:
            spec = shrunk(model, args.size, tmp)
            for rate in args.rates:
                ratios, misses = measure(spec, rate)
                worst = ", ".join(f"{n.split('.')[-1]} {r:.2f}" for r, n in misses[:3])
                print(f"{model:<30} {rate:>6.3f} {ratios['paper']:>7.3f} {ratios['exact']:>7.3f}  {worst}", flush=True)
        if args.trained_images:
            ratios, misses = measure_trained(args.trained_images)
            worst = ", ".join(f"{n.split('.')[-1]} {r:.2f}" for r, n in misses[:3])
            print(f"{'spikformer-digits (trained)':<30} {'own':>6} {ratios['paper']:>7.3f} {ratios['exact']:>7.3f}  {worst}")


if __name__ == "__main__":
    main()
