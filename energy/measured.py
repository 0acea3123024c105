"""Audit rows recomputed from measured runs: a claim names a shipped spec, its weights and an
input set; the caller runs them (``energy`` never runs a network — ``evsim audit`` passes a
``measure(spec, weights_path, inputs) -> [Run]``) and the row prices the runs' own counts.

    vit-lca-measured   ViT-LCA on a real input set: accuracy of both decoders, the measured M̂,
                       MACs, neuron updates and FLOPs = 2·MACs + updates beside the paper's
                       formula K((2N − 1)M/K + 2·M·M̂ + M) at the same M, K and M̂, and the
                       energy under the paper's pJ/op and under the 45 nm constants
"""
from __future__ import annotations

import numpy as np

from evsim.kinds.lca import LCA, mean_active


def _layer_of(spec, kind_class):
    return next(n for n, l in spec.layers.items() if isinstance(l, kind_class))


def vit_lca_measured(claim, spec, runs, labels):
    from .audit import Check, vit_lca_flops
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


MEASURED = {"vit-lca-measured": vit_lca_measured}
