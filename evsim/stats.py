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

    @classmethod
    def empty(cls, name, kind, input_values, steps):
        return cls(name, kind, input_values, steps, {f: np.zeros(steps, dtype=np.int64) for f in COUNT_FIELDS})

    def __getattr__(self, item):
        counts = self.__dict__.get("counts", {})
        if item in counts:
            return counts[item]
        raise AttributeError(item)

    def total(self, field_name) -> int:
        return int(self.counts[field_name].sum())

    def as_dict(self) -> dict:
        out = {k: v for k, v in dataclasses.asdict(self).items() if k != "counts"}
        out.update({k: v.tolist() for k, v in self.counts.items()})
        return out
