"""ViT-LCA on scikit-learn's digits, run spike by spike: accuracy of both decoders, the mean
number of active atoms M̂, and the measured operations beside the paper's FLOP formula.

    python benchmarks/vit_lca_digits.py [--sizes 100 300 500 1000 1437] [--write-models]

Data: ``sklearn.datasets.load_digits`` (1797 images of 8×8 pixels, values 0..16), split 80/20
stratified with random_state 0 (1437 training, 360 test images). The dictionary of size M is
the first M training images, each pixel vector L2-normalised, with their labels; the test
images are the inputs, raw (ViT-LCA's code does not normalise the input feature). The
hyperparameters are the paper's (λ = 2, τ = 100, K = 100). ``--write-models`` writes the
shipped dictionary (M = 500, ``models/vit-lca-digits.npz``) and the test set
(``models/vit-lca-digits-test.npz``: ``inputs`` [360, 64], ``labels`` [360], as uint8).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

import evsim
from energy.audit import vit_lca_flops
from evsim.kinds.lca import mean_active
from evsim.spec import load_spec

MODELS = Path(__file__).resolve().parent.parent / "models"
SPEC = MODELS / "vit-lca-digits.yaml"
SHIPPED_ATOMS = 500


def split():
    """(train images, train labels, test images, test labels) of the fixed split."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    x, y = load_digits(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.2, random_state=0, stratify=y)
    return x_train, y_train, x_test, y_test


def dictionary(x_train, y_train, atoms):
    """Weights of the digits spec: the first ``atoms`` training images, unit rows, and labels."""
    phi = x_train[:atoms] / np.linalg.norm(x_train[:atoms], axis=1, keepdims=True)
    return {"lca": {"dictionary": phi}, "decode": {"labels": y_train[:atoms].astype(np.float64)}}


def spec_with(atoms, tmp_dir):
    """The shipped digits spec with another dictionary size (a file extending it)."""
    if atoms == SHIPPED_ATOMS:
        return load_spec(SPEC)
    path = Path(tmp_dir) / f"vit-lca-digits-{atoms}.yaml"
    path.write_text(f"extends: {SPEC}\nname: vit-lca-digits-{atoms}\nparams: {{atoms: {atoms}}}\n")
    return load_spec(path)


def evaluate(network, inputs, labels, engine="event"):
    """Run every input; returns accuracy of both decoders and per-inference means of M̂ and counts."""
    runs = [network.run(x, engine=engine) for x in inputs]
    predicted = np.array([r.output for r in runs]).astype(int)     # [B, 2]: max activation, max sum
    stats = [r.stats["lca"] for r in runs]
    mean = lambda field: float(np.mean([s.total(field) for s in stats]))  # noqa: E731
    return {
        "accuracy_max_activation": float(np.mean(predicted[:, 0] == labels)),
        "accuracy_max_sum": float(np.mean(predicted[:, 1] == labels)),
        "mean_active": float(np.mean([mean_active(s) for s in stats])),
        "synaptic_events": mean("synaptic_events"),
        "neuron_updates": mean("neuron_updates"),
        "output_events": mean("output_spikes"),
        "input_events": mean("input_events"),
    }


def report_row(layer, features, result):
    """Measured operations beside the formula K((2N − 1)M/K + 2·M·M̂ + M) at the measured M̂."""
    m, k = layer.atoms, layer.iterations
    measured_flops = 2 * result["synaptic_events"] + result["neuron_updates"]
    formula = vit_lca_flops(m, features, k, result["mean_active"])
    return (f"{m:>6} {100 * result['accuracy_max_activation']:>9.2f} {100 * result['accuracy_max_sum']:>9.2f} "
            f"{result['mean_active']:>8.2f} {result['output_events']:>10.0f} {result['synaptic_events'] / 1e6:>12.4f} "
            f"{measured_flops / 1e6:>14.4f} {formula / 1e6:>14.4f}")


def main(argv=None):
    import tempfile
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 300, 500, 1000, 1437])
    parser.add_argument("--write-models", action="store_true", help="write models/vit-lca-digits.npz and -test.npz")
    args = parser.parse_args(argv)
    x_train, y_train, x_test, y_test = split()
    if args.write_models:
        evsim.weights.save(dictionary(x_train, y_train, SHIPPED_ATOMS), MODELS / "vit-lca-digits.npz")
        np.savez(MODELS / "vit-lca-digits-test.npz", inputs=x_test.astype(np.uint8), labels=y_test.astype(np.uint8))
        print(f"wrote {MODELS / 'vit-lca-digits.npz'} and {MODELS / 'vit-lca-digits-test.npz'}")
    print(f"ViT-LCA on digits: {len(x_train)} training images (dictionary pool), {len(x_test)} test inputs, "
          "λ = 2, τ = 100, K = 100, event engine, float64")
    print("accuracy in % of test images; M̂ = active atoms per iteration (mean); events = nonzero activations "
          "emitted over the K iterations; MACs = measured multiply-accumulates (b = ΦS and the lateral "
          "inhibition); FLOPs = 2·MACs + K·M neuron updates; formula = K((2N − 1)M/K + 2·M·M̂ + M) at the measured M̂")
    print(f"{'M':>6} {'max-act %':>9} {'max-sum %':>9} {'M̂':>8} {'events':>10} {'MACs (M)':>12} "
          f"{'FLOPs (M)':>14} {'formula (M)':>14}")
    with tempfile.TemporaryDirectory() as tmp:
        for atoms in args.sizes:
            spec = spec_with(atoms, tmp)
            network = evsim.load(spec, dictionary(x_train, y_train, atoms))
            start = time.perf_counter()
            result = evaluate(network, x_test, y_test)
            seconds = time.perf_counter() - start
            print(report_row(spec.layers["lca"], spec.input.shape[0], result) + f"   ({seconds:.1f} s)", flush=True)


if __name__ == "__main__":
    main()
