"""Audit rows recomputed from measured runs: a claim names a shipped spec, its weights and an
input set; the caller runs them (``energy`` never runs a network — ``evsim audit`` passes
``measure(spec, weights, inputs, synthetic_rate=None, seed=0, calibrate_with=None) -> [Run]``:
weights a path, or None for calibrated random weights; inputs an array, or a number of seeded
sample inputs) and the row prices the runs' own counts.

    vit-lca-measured   ViT-LCA on a real input set: accuracy of both decoders, the measured M̂,
                       MACs, neuron updates and FLOPs = 2·MACs + updates beside the paper's
                       formula K((2N − 1)M/K + 2·M·M̂ + M) at the same M, K and M̂, and the
                       energy under the paper's pJ/op and under the 45 nm constants
    token-reduction    a halting spec and the same spec with halting: 0, on the same weights and
                       inputs: tokens processed per inference (the halting layers' counts), the
                       reduction, synaptic events and energy (exact convention, the profile named)
"""
from __future__ import annotations

import numpy as np

from evsim.kinds.lca import LCA, mean_active


def _layer_of(spec, kind_class):
    return next(n for n, l in spec.layers.items() if isinstance(l, kind_class))


def vit_lca_measured(claim, spec, measure):
    from evsim.spec.graph import shipped

    from .audit import Check, vit_lca_flops
    data = np.load(shipped(claim["inputs"]).with_suffix(".npz"))
    runs = measure(spec, shipped(claim["weights"]).with_suffix(".npz"), data["inputs"].astype(np.float64))
    labels = data["labels"]
    k = claim["constants"]
    name = _layer_of(spec, LCA)
    layer = spec.layers[name]
    stats = [r.stats[name] for r in runs]
    mean = lambda field: float(np.mean([s.total(field) for s in stats]))  # noqa: E731
    outputs = np.array([r.output for r in runs])
    labels = np.asarray(labels)[:len(runs)]
    active = float(np.mean([mean_active(s) for s in stats]))
    macs, updates = mean("synaptic_events"), mean("neuron_updates")
    flops = 2 * macs + updates
    formula = vit_lca_flops(layer.atoms, spec.input.shape[0], layer.iterations, active)
    energy_45nm = (k["mac_pj"] * macs + k["ac_pj"] * updates) * 1e-9
    return [
        Check("inputs run (event engine, float64)", "inputs", None, len(runs)),
        Check("accuracy, max-activation decoder", "%", None, 100 * float(np.mean(outputs[:, 0] == labels))),
        Check("accuracy, max-sum decoder", "%", None, 100 * float(np.mean(outputs[:, 1] == labels))),
        Check("mean active atoms per iteration M̂ (measured)", "atoms", None, active),
        Check("measured MACs per inference (b = ΦS and lateral events)", "M", None, macs / 1e6),
        Check("measured FLOPs per inference, 2·MACs + K·M updates", "M", None, flops / 1e6),
        Check("paper's formula at the same M, K and measured M̂", "M FLOPs", None, formula / 1e6,
              note="counts b as (2N − 1)M dense and K iterations at M̂; measured b skips zero inputs"),
        Check("energy at the paper's pJ per operation, measured FLOPs", "µJ", None, flops * k["pj_per_op"] * 1e-6),
        Check("energy at 45 nm (4.6 pJ per MAC, 0.9 pJ per update), measured", "µJ", None, energy_45nm * 1e3),
    ]


def _without_halting(spec, directory):
    from pathlib import Path

    from evsim.spec import load_spec
    path = Path(directory) / "without-halting.yaml"
    path.write_text(f'extends: "{Path(spec.path).resolve()}"\nname: {spec.name}-without-halting\nparams: {{halting: 0}}\n')
    return load_spec(path)


def token_reduction(claim, spec, measure):
    """Tokens and energy with and without halting (same weights, same inputs)."""
    import tempfile

    from evsim.kinds.halting import Halting

    from .audit import Check
    from .estimate import estimate
    k = claim["constants"]
    halts = [n for n, l in spec.layers.items() if isinstance(l, Halting)]
    options = {"synthetic_rate": k["synthetic_rate"], "seed": k["seed"]}
    with tempfile.TemporaryDirectory() as tmp:
        plain = _without_halting(spec, tmp)
        runs = {"halting": measure(spec, None, k["inputs"], calibrate_with=plain, **options),
                "plain": measure(plain, None, k["inputs"], calibrate_with=plain, **options)}
    all_tokens = len(halts) * spec.input.T * spec.shapes[halts[0]][0]
    tokens = float(np.mean([sum(r.stats[n].total("tokens") for n in halts) for r in runs["halting"]]))
    events = {key: float(np.mean([sum(s.total("synaptic_events") for s in r.stats.values()) for r in rs])) for key, rs in runs.items()}
    mj = {key: float(np.mean([estimate(r, k["profile"], "exact").total_mj for r in rs])) for key, rs in runs.items()}
    return [
        Check("inputs run (seeded sample images, calibrated random weights)", "inputs", None, k["inputs"]),
        Check("tokens entering the blocks per inference, without halting", "tokens", None, all_tokens),
        Check("tokens entering the blocks per inference, with halting", "tokens", None, tokens),
        Check("token reduction by halting", "%", None, 100 * (1 - tokens / all_tokens),
              note=f"the paper claims {claim['claimed'].get('fewer_tokens_percent')} % fewer tokens than the best "
                   "previous method (not run here); this is the reduction against no halting"),
        Check("synaptic events per inference, without halting", "G", None, events["plain"] / 1e9),
        Check("synaptic events per inference, with halting", "G", None, events["halting"] / 1e9),
        Check(f"energy without halting (exact, {k['profile']})", "mJ", None, mj["plain"]),
        Check(f"energy with halting (exact, {k['profile']})", "mJ", None, mj["halting"]),
    ]


MEASURED = {"vit-lca-measured": vit_lca_measured, "token-reduction": token_reduction}
