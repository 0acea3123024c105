"""The same network as an ANN on the same hardware: equal terms for SNN-versus-ANN figures.

The spec is read as an ANN of the same layer shapes: real-valued activations (every input
element nonzero), one pass (T = 1), softmax attention where the SNN has spiking attention
(each kind's ``ann_macs`` facet: 2·N²·D for attention), activation functions fused into
the layer before them. Its LayerStats, per layer:

    input elements = input events = I              (every activation is read once)
    synaptic operations = dense MACs = ann_macs    (input values analog → priced as MAC)
    bias additions = those of one SNN step
    neuron layers: no state (neuron updates 0); each activation written once (O = M)

and these go through the same ``estimate`` (convention, profile, dataflow) as the SNN, so
E_ANN = E_MAC·Σ MACs + E_AC·Σ bias adds + the memory terms of :mod:`energy.dataflow`.
Not counted, in the ANN as in the SNN: softmax, GELU/ReLU arithmetic, LayerNorm.
"""
from __future__ import annotations

import math

import numpy as np

from evsim.spec import ANALOG, Spec, load_spec
from evsim.stats import LayerStats

from .analytic import analytic_stats
from .estimate import estimate
from .report import EnergyReport

ANN_SOURCE = "ANN of the same shapes: analog activations, softmax attention, T = 1, no rates"
SYNAPTIC_FIELDS = ("synaptic_events", "weighted_synaptic_events", "synaptic_events_nonzero",
                   "dense_synaptic_ops", "dense_macs")


def ann_stats(spec: Spec) -> dict:
    """{layer: LayerStats} of one ANN pass of the spec's structure (float counts, 1 step)."""
    snn = analytic_stats(spec, {"default": 1.0})   # for the layers counted, weights and bias additions
    out = {}
    for name, s in snn.items():
        layer, facts = spec.layers[name], spec.facts(name)
        stats = LayerStats(name, s.kind, ANALOG, 1, {f: np.zeros(1) for f in s.counts}, s.weights, s.outputs)
        c = stats.counts
        c["input_elements"][:] = c["input_events"][:] = c["input_spikes"][:] = facts.in_elements
        macs = layer.ann_macs(list(facts.in_shapes), facts.out_shape)
        for f in SYNAPTIC_FIELDS:
            c[f][:] = macs
        c["bias_adds"][:] = s.counts["bias_adds"][0]
        if layer.spiking:
            c["output_spikes"][:] = math.prod(facts.out_shape)
        out[name] = stats
    return out


def ann_report(spec: Spec | str, profile="horowitz45-fp32", convention="exact") -> EnergyReport:
    """EnergyReport of the spec run as an ANN, priced by the same profile and convention."""
    spec = spec if isinstance(spec, Spec) else load_spec(spec)
    return estimate(ann_stats(spec), profile, convention, spec_name=f"{spec.name} as an ANN", source=ANN_SOURCE)
