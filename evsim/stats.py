"""LayerStats: the raw facts of one layer's work in one inference — no prices.

This is the contract between the engines (which count) and ``energy`` (which prices).
Every field is an int64 array over the layer's time steps (length T, or 1 for layers
after a mean over time).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

COUNT_FIELDS = (
    "input_elements",            # input values per step (all inputs), the firing-rate denominator
    "input_events",              # nonzero input values (events)
    "input_spikes",              # Σ of input values for integer multi-spike inputs; = events otherwise
    "synaptic_events",           # Σ over input events of each one's real fan-out (edge-exact)
    "weighted_synaptic_events",  # Σ value × fan-out: an integer input of 2 counts as two spikes
    "synaptic_events_nonzero",   # synaptic events whose weight is nonzero (NeuroBench 'effective')
    "dense_synaptic_ops",        # every input against every synapse it has (edge-exact)
    "dense_macs",                # padded FLOP count as PyTorch counters give it (spec)
    "bias_adds",                 # additions of a bias or of a folded BatchNorm shift
    "neuron_updates",            # membrane state updates
    "output_spikes",             # spikes emitted
    "attention_coincidences",    # binary × binary coincidences of the first attention product
    "tokens",                    # tokens processed
)


@dataclass
class LayerStats:
    name: str
    kind: str
    input_values: str            # 'binary' | 'integer' | 'analog' (the spec's value kind)
    steps: int
    counts: dict = field(default_factory=dict)
    weights: int = 0             # weights the layer holds (after BatchNorm folding)
    outputs: int = 0             # output elements per step (accumulators or membrane potentials)

    @classmethod
    def empty(cls, name, kind, input_values, steps, dtype=np.int64):
        """Zero counts; analytic estimates use float (expected) counts."""
        return cls(name, kind, input_values, steps, {f: np.zeros(steps, dtype=dtype) for f in COUNT_FIELDS})

    @classmethod
    def for_layer(cls, spec, name, params, dtype=np.int64):
        """Zero counts sized for one layer of a spec, with its weight and output sizes."""
        stats = cls.empty(name, spec.layers[name].kind, spec.in_values(name)[0], spec.steps(name), dtype)
        stats.weights = int(sum(np.size(v) for v in params.values()))
        stats.outputs = int(np.prod(spec.shapes[name]))
        return stats

    def input_rate(self) -> float:
        """Input spikes per input element per step (multi-spike values counted by value)."""
        elements = self.total("input_elements")
        return self.total("input_spikes") / elements if elements else 0.0

    def total(self, field_name):
        value = self.counts[field_name].sum()
        return int(value) if self.counts[field_name].dtype.kind == "i" else float(value)

    def as_dict(self) -> dict:
        out = {k: v for k, v in dataclasses.asdict(self).items() if k != "counts"}
        out.update({k: v.tolist() for k, v in self.counts.items()})
        return out
