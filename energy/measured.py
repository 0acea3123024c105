"""Audit rows recomputed from measured runs: a claim names a shipped spec, its weights and an
input set; the caller runs them (``energy`` never runs a network — ``evsim audit`` passes
``measure(spec, weights, inputs, synthetic_rate=None, seed=0, calibrate_with=None) -> [Run]``:
weights a path, or None for calibrated random weights; inputs an array, or a number of seeded
sample inputs) and the row prices the runs' own counts.

    vit-lca-measured   ViT-LCA on a real input set: accuracy of both decoders, the measured M̂,
                       MACs, neuron updates and FLOPs = 2·MACs + updates beside the paper's
                       formula K((2N − 1)M/K + 2·M·M̂ + M) at the same M, K and M̂, and the
                       energy under the paper's pJ/op and under the 45 nm constants
    token-reduction    a spec with token halting and/or merging (the claim's spec, its params
                       changed by ``constants.params``) and the same spec with halting: 0 and
                       merging: 0, on the same weights and inputs: tokens the blocks process per
                       inference (their gates' counts), the reduction, synaptic events and
                       energy (exact convention, the profile named; analog inputs as MAC and as AC)
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


def variant_spec(spec, directory, suffix: str, params: dict):
    """``spec`` with some of its params changed: a spec file in ``directory`` that extends it."""
    import json
    from pathlib import Path

    from evsim.spec import load_spec
    path = Path(directory) / f"{spec.name}-{suffix}.yaml"
    path.write_text(f'extends: "{Path(spec.path).resolve()}"\nname: {spec.name}-{suffix}\nparams: {json.dumps(params)}\n')
    return load_spec(path)


PLAIN = {"halting": 0, "merging": 0}


def tokens_processed(run, spec) -> int:
    """Tokens the blocks process per inference: Σ over blocks and steps of each block's gate
    (the layer its masked layers read: ``halting`` or ``token_merge``); 0 without gates."""
    from evsim.kinds.masked_linear import MaskedLinear
    gates = {layer.inputs[1] for layer in spec.layers.values() if isinstance(layer, MaskedLinear)}
    return int(sum(run.stats[g].total("tokens") for g in gates))


def blocks_tokens(spec) -> int:
    """Tokens per inference of the same blocks without any reduction: gates × steps × tokens."""
    from evsim.kinds.masked_linear import MaskedLinear
    gates = {layer.inputs[1] for layer in spec.layers.values() if isinstance(layer, MaskedLinear)}
    return sum(spec.steps(g) * spec.shapes[g][0] for g in gates)


def token_reduction(claim, spec, measure):
    """Tokens and energy with and without the spec's token reduction (``constants.params``
    changed on the claim's spec, e.g. merging on; the plain model: halting and merging off),
    on the same weights and inputs."""
    import tempfile

    from .audit import Check
    from .estimate import estimate
    k = claim["constants"]
    label = k.get("label", "halting")
    options = {"synthetic_rate": k["synthetic_rate"], "seed": k["seed"]}
    with tempfile.TemporaryDirectory() as tmp:
        reduced = variant_spec(spec, tmp, "reduced", k["params"]) if k.get("params") else spec
        plain = variant_spec(spec, tmp, "plain", PLAIN)
        runs = {"reduced": measure(reduced, None, k["inputs"], calibrate_with=plain, **options),
                "plain": measure(plain, None, k["inputs"], calibrate_with=plain, **options)}
    all_tokens = blocks_tokens(reduced)
    tokens = float(np.mean([tokens_processed(r, reduced) for r in runs["reduced"]]))
    mean = lambda key, f: float(np.mean([f(r) for r in runs[key]]))  # noqa: E731
    events = {key: mean(key, lambda r: sum(s.total("synaptic_events") for s in r.stats.values())) for key in runs}
    mj = {(key, mac): mean(key, lambda r, mac=mac: estimate(r, k["profile"], "exact", analog_as_mac=mac).total_mj)
          for key in runs for mac in (True, False)}
    return [
        Check("inputs run (seeded sample images, calibrated random weights)", "inputs", None, k["inputs"],
              note="synthetic weights: the figures are what this tool measures on them, not comparable with the "
                   "trained model's"),
        Check(f"tokens processed by the blocks per inference, without {label}", "tokens", None, all_tokens),
        Check(f"tokens processed by the blocks per inference, with {label}", "tokens", None, tokens),
        Check(f"token reduction by {label}", "%", None, 100 * (1 - tokens / all_tokens),
              note=f"the paper claims {claim['claimed'].get('fewer_tokens_percent')} % fewer tokens than the best "
                   f"previous method (not run here); this is the reduction against no {label}"),
        Check(f"synaptic events per inference, without {label}", "G", None, events["plain"] / 1e9),
        Check(f"synaptic events per inference, with {label}", "G", None, events["reduced"] / 1e9),
        Check(f"energy without {label} (exact, {k['profile']})", "mJ", None, mj[("plain", True)]),
        Check(f"energy with {label} (exact, {k['profile']})", "mJ", None, mj[("reduced", True)],
              note="analog inputs (merged tokens' averages) priced as MAC"),
        Check(f"energy with {label}, analog inputs as AC (exact, {k['profile']})", "mJ", None, mj[("reduced", False)],
              note=f"without {label}: {mj[('plain', False)]:.4g} mJ priced the same way"),
    ]


MEASURED = {"vit-lca-measured": vit_lca_measured, "token-reduction": token_reduction}
