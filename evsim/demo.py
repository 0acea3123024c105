"""``evsim demo``: the shipped trained Spikformer on the whole digits test set, spike by spike.

Prints the accuracy (the same predictions, image by image, as the PyTorch model the weights
came from), the measured firing rate of every spiking layer beside the 15 % that synthetic
runs assume, and the energy per inference under the paper's convention, the exact one and a
memory-aware profile; writes a spike raster, spike maps, a firing-rate chart, an energy
breakdown, the measured rates and a Markdown report into the output folder.
"""
from __future__ import annotations

import datetime
import platform
import sys
from pathlib import Path

import numpy as np

from . import __version__, datasets
from .errors import EvsimError
from .network import load
from .spec.graph import shipped
from .stats import LayerStats, Rate, accumulate_stats

MODEL = "spikformer-digits"
SYNTHETIC_RATE = 0.15
PRICINGS = (("paper", "horowitz45-fp32"), ("exact", "horowitz45-fp32"), ("exact", "lemaire-memory-sram-fp32"))


def shipped_model():
    """(spec path, weights path, metadata dict) of the shipped trained model."""
    spec_path = shipped(MODEL)
    weights_path = spec_path.with_suffix(".safetensors")
    if not weights_path.exists():
        raise EvsimError("the trained digits model is not installed", file=str(weights_path),
                         fix="reinstall evsim (the weights ship with the package)")
    from safetensors import safe_open
    with safe_open(str(weights_path), "np") as f:
        metadata = dict(f.metadata() or {})
    return spec_path, weights_path, metadata


def mean_stats(totals: dict, n: int) -> dict:
    """Per-inference mean LayerStats (float counts) from summed ones: every count, hence every
    convention's operations, is linear in the counts."""
    out = {}
    for name, s in totals.items():
        mean = LayerStats(s.name, s.kind, s.input_values, s.steps, {k: v / n for k, v in s.counts.items()},
                          s.weights, s.outputs)
        out[name] = mean
    return out


def run_demo(output: str | None = None, limit: int | None = None, engine: str = "event", progress: bool = True) -> dict:
    from tqdm import tqdm

    import energy
    from energy.rates import rates_document
    spec_path, weights_path, metadata = shipped_model()
    net = load(spec_path, weights_path)
    images, labels = datasets.digits("test")
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    out_dir = Path(output or f"evsim-demo-{datetime.datetime.now():%Y%m%d-%H%M%S}")
    out_dir.mkdir(parents=True, exist_ok=True)

    predictions, totals, activity, first = [], {}, {}, None
    for image in tqdm(images, desc=f"digits test set ({engine} engine)", unit="image", disable=not progress,
                      file=sys.stderr):
        run = net.run(image, engine=engine)
        predictions.append(int(np.argmax(run.output)))
        accumulate_stats(totals, run.stats)
        for name, counts in run.activity.items():
            activity[name] = tuple(a + b for a, b in zip(activity.get(name, (0, 0, 0.0)), counts))
        first = first or run
    predictions = np.array(predictions)
    accuracy = float((predictions == labels).mean())
    per_inference = mean_stats(totals, len(images))
    rates = {n: activity[n][1] / activity[n][0] for n in first.spikes}
    reports = {(c, p): energy.estimate(per_inference, p, c, spec_name=net.spec.name,
                                       source=f"measured, mean over {len(images)} digits test images")
               for c, p in PRICINGS}
    measured = {n: Rate(v / e if e else 0.0, s / e if e else 0.0,
                        net.spec.layers[n].detail([totals[n]], net.spec.facts(n)) or None if n in totals else None)
                for n, (e, v, s) in activity.items()}
    result = {"accuracy": accuracy, "images": len(images), "predictions": predictions, "rates": rates,
              "reports": reports, "output": out_dir, "metadata": metadata, "first": first, "image": images[0],
              "label": int(labels[0]), "network": net,
              "rates_file": rates_document(measured, net.spec, len(images), engine)}
    write_outputs(result)
    return result


def write_outputs(result) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from . import plot
    from .files import write_atomic
    from .outputs import write_output
    out, run = result["output"], result["first"]
    layers = list(run.spikes)

    def save(fig, name):
        write_output(out / name, lambda f: fig.savefig(f, dpi=110, format="png"), "image")
        plt.close(fig)
    save(plot.raster(run, layers, max_neurons=120), "raster.png")
    save(plot.spike_maps(run, layers, image=result["image"]), "spike_maps.png")
    ax = plot.firing_rates(result["rates"], reference=SYNTHETIC_RATE,
                           title=f"{run.spec_name}: measured firing rates over {result['images']} test images")
    ax.figure.tight_layout()
    save(ax.figure, "firing_rates.png")
    save(result["reports"][("exact", "horowitz45-fp32")].plot(), "energy.png")
    lif = next(n for n in layers if n.endswith("attn_lif")) if any(n.endswith("attn_lif") for n in layers) else layers[0]
    trace = result["network"].trace(result["image"], lif, neurons=_busiest(run.spikes[lif]))
    ax = plot.membrane(trace)
    ax.figure.tight_layout()
    save(ax.figure, "membrane.png")
    write_atomic(out / "rates.yaml", lambda tmp: Path(tmp).write_text(result["rates_file"]))
    write_atomic(out / "report.md", lambda tmp: Path(tmp).write_text(markdown(result)))


def _busiest(spikes, n=3):
    """Flat indices of the n neurons that spike most (ties: lowest index), for the trace."""
    counts = spikes.reshape(spikes.shape[0], -1).sum(axis=0)
    return np.argsort(-counts, kind="stable")[:n].tolist()


def summary_lines(result) -> list[str]:
    meta = result["metadata"]
    stated = meta.get("test_accuracy")
    torch_predictions = meta.get("test_predictions", "")
    same = ""
    if len(torch_predictions) >= result["images"]:
        agree = sum(int(p) == int(q) for p, q in zip(torch_predictions, result["predictions"]))
        same = f"; the same prediction as the PyTorch model on {agree} of {result['images']} images"
    lines = [f"{result['network'].spec.name}: {result['images']} digits test images, event engine",
             f"accuracy: {result['accuracy']:.2%}" + (f" (PyTorch model at training: {float(stated):.2%})" if stated else "")
             + same,
             "", f"{'spiking layer':<34} {'measured rate':>14} {'synthetic runs':>15}   (spikes per neuron per step)"]
    lines += [f"{name:<34} {rate:>14.4f} {SYNTHETIC_RATE:>15.2f}" for name, rate in result["rates"].items()]
    lines += ["", "energy per inference (mean over the test set; counts measured spike by spike):"]
    for (convention, profile), report in result["reports"].items():
        lines.append(f"  {convention:<6} convention, {profile:<26} {report.total_mj * 1e3:10.3f} µJ"
                     f"   (AC {report.total('ac') / 1e6:.3f} M ops, MAC {report.total('mac') / 1e6:.3f} M ops)")
    paper, exact = (result["reports"][(c, "horowitz45-fp32")].total() for c in ("paper", "exact"))
    lines.append(f"  paper ÷ exact (horowitz45-fp32): {paper / exact:.3f}")
    lines.append(f"outputs: {result['output']}/ (raster.png, spike_maps.png, firing_rates.png, energy.png, "
                 f"membrane.png, rates.yaml, report.md)")
    return lines


def markdown(result) -> str:
    import numba
    import scipy
    lines = ["# evsim demo report", "", "```", *summary_lines(result), "```", "",
             "## Settings", "",
             f"- model: `{result['network'].spec.path}` with weights trained on scikit-learn's digits "
             f"(metadata: {', '.join(f'{k} = {v}' for k, v in sorted(result['metadata'].items()))})",
             "- input: direct encoding (the image repeated every step), digits test split as in `evsim/datasets.py`",
             "- engine: event (Numba event kernels), float64",
             "", "## Energy reports", ""]
    for report in result["reports"].values():
        lines += [report.to_markdown(), ""]
    lines += ["## Versions", "", f"- evsim {__version__}, numpy {np.__version__}, numba {numba.__version__}, "
              f"scipy {scipy.__version__}, Python {platform.python_version()} on {platform.machine()}", ""]
    return "\n".join(lines)
