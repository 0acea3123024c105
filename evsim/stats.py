"""LayerStats: the raw facts of one layer's work in one inference — no prices.

This is the contract between the engines (which count) and ``energy`` (which prices).
Every field is an array over the layer's time steps (length T, or 1 for layers after a
mean over time): int64 for counts measured in a run, float64 for the expected counts of
analytic energy (declared rates).
"""
from __future__ import annotations

import dataclasses
import math
import weakref
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
from numba import njit

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
    "attention_row_additions",   # second attention product with every intermediate row dense (the old count)
    "tokens",                    # tokens processed
    "memory_elements",           # values held from earlier steps (an attention's stored K, V: DISTA's window)
    "memory_reads",              # stored events read back from that memory
    "memory_writes",             # events written to it for later steps
)


class Rate(NamedTuple):
    """How busy a tensor is, per element per step: ``events`` = P(value ≠ 0), ``spikes`` =
    E[value] (equal for binary spikes; a residual sum of two spike trains can carry 2).
    ``detail``: measured statistics of the producing layer's own work that its kind's
    expected counts use instead of an independence assumption (e.g. attention coincidences)."""

    events: float
    spikes: float
    detail: dict | None = None


_EVENTS: dict = {}  # id(array) → (weak reference to it, its events per step)


def events_per_step(a: np.ndarray) -> np.ndarray:
    """Nonzero elements per step of a [S, ...] array, counted once per array object: a layer's
    output is otherwise counted again by the walk (its activity) and by every consumer (its
    input events). Only for arrays no longer written (finished layer outputs)."""
    hit = _EVENTS.get(id(a))
    if hit is not None and hit[0]() is a:
        return hit[1]
    counts = nonzero_per_row(a.reshape(a.shape[0], -1))
    remember_events(a, counts)
    return counts


@njit(cache=True)
def nonzero_per_row(rows):
    """Nonzero elements of each row, a vector loop per row (``np.count_nonzero(…, axis=1)``
    makes a boolean copy first: 10× slower, 5 % of an inference at 3.7 %)."""
    counts = np.empty(rows.shape[0], dtype=np.int64)
    for r in range(rows.shape[0]):
        row = rows[r]
        n = 0
        for k in range(row.shape[0]):
            n += row[k] != 0
        counts[r] = n
    return counts


def remember_events(a: np.ndarray, counts: np.ndarray) -> None:
    """Nonzero elements per step of a finished output, as its producer counted them while
    writing it: ``events_per_step`` then answers from them."""
    key = id(a)
    _EVENTS[key] = (weakref.ref(a, lambda _, key=key: _EVENTS.pop(key, None)), np.asarray(counts))


def output_rate(output: np.ndarray, values: str, parts: int = 1) -> tuple | list:
    """(elements, events, spikes) of one layer output over all its steps: the measured
    counts behind a Rate (spikes = Σ values for integer outputs, = events otherwise).
    ``parts`` > 1: one tuple for each of that many equal runs of steps (a batch's inputs), from
    one count of the whole array."""
    per_step = events_per_step(output)   # outputs are [S, ...]: one row per step
    n = output.shape[0] // parts
    out = []
    for b in range(parts):
        events = int(per_step[b * n:(b + 1) * n].sum())
        spikes = float(np.rint(output[b * n:(b + 1) * n]).sum()) if values == "integer" else float(events)
        out.append((output.size // parts, events, spikes))
    return out[0] if parts == 1 else out


ANALOG_RATE = Rate(1.0, 1.0)


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
    def for_layer(cls, facts, kind: str, weights: int, dtype=np.int64, steps: int | None = None) -> LayerStats:
        """Zero counts sized for one layer (``facts``: its :class:`evsim.spec.layer.LayerFacts`);
        analytic estimates use float (expected) counts. ``steps``: the length of the count
        arrays when not the layer's own (throughput mode records a batch's steps end to end)."""
        counts = {f: np.zeros(facts.steps if steps is None else steps, dtype=dtype) for f in COUNT_FIELDS}
        return cls(facts.name, kind, facts.in_values[0], facts.steps, counts, weights, facts.out_elements)

    def total(self, field_name):
        value = self.counts[field_name].sum()
        return int(value) if self.counts[field_name].dtype.kind == "i" else float(value)


def record_inputs(inputs, in_values, counts, steps=slice(None)) -> None:
    """Input elements, events and spikes per step of [S, ...] input arrays."""
    per_step = lambda a: a.reshape(a.shape[0], -1)  # noqa: E731
    counts["input_elements"][steps] = sum(math.prod(a.shape[1:]) for a in inputs)
    counts["input_events"][steps] = sum(events_per_step(a) for a in inputs)
    if in_values[0] == "integer":
        counts["input_spikes"][steps] = np.rint(sum(per_step(a).sum(axis=1) for a in inputs))
    else:
        counts["input_spikes"][steps] = counts["input_events"][steps]


def expect_inputs(facts, in_rates, counts) -> None:
    """Expected input elements, events and spikes per step given each input's rate."""
    sizes = [math.prod(s) for s in facts.in_shapes]
    counts["input_elements"][:] = sum(sizes)
    counts["input_events"][:] = sum(r.events * n for r, n in zip(in_rates, sizes))
    if facts.in_values[0] == "integer":
        counts["input_spikes"][:] = sum(r.spikes * n for r, n in zip(in_rates, sizes))
    else:
        counts["input_spikes"][:] = counts["input_events"]


def accumulate_stats(totals: dict, stats: dict) -> None:
    """Add one run's {layer: LayerStats} into ``totals`` in place, count by count (per step);
    the run's own LayerStats are left as they are."""
    for name, layer in stats.items():
        if name in totals:
            for key, values in layer.counts.items():
                totals[name].counts[key] = totals[name].counts[key] + values
        else:
            totals[name] = dataclasses.replace(layer, counts=dict(layer.counts))
