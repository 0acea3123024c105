"""What conv and linear layers share: events grouped by target, the synaptic counts they
record, and their expected counts under declared rates.

    synaptic events          Σ over input events of the event's real fan-out
    weighted synaptic events Σ value × fan-out (integer multi-spike inputs counted by value)
    nonzero synaptic events  Σ over events of the fan-out through nonzero weights
    expected                 r_events × synapses (r_spikes × synapses weighted, integer inputs)
"""
from __future__ import annotations

import numpy as np

from ..spec.layer import INTEGER
from ..stats import Rate


def bias_of(params: dict, dtype):
    return None if "bias" not in params else np.asarray(params["bias"], dtype=dtype)


def record(counts, t, synaptic, weighted, nonzero, facts, has_bias: bool) -> None:
    """Counts of one step from the kernels' (synaptic, value-weighted, nonzero-weight) events."""
    counts["synaptic_events"][t] = synaptic
    counts["weighted_synaptic_events"][t] = round(weighted) if facts.in_values[0] == INTEGER else synaptic
    counts["synaptic_events_nonzero"][t] = nonzero
    counts["dense_synaptic_ops"][t] = facts.synapses
    counts["dense_macs"][t] = facts.dense_ops
    counts["bias_adds"][t] = facts.out_elements if has_bias else 0


def record_steps(counts, steps: slice, step_counts, facts, has_bias: bool) -> None:
    """Counts of S steps from ``kernels.counted_events``' per-step (synaptic, weighted, nonzero)."""
    for s, t in enumerate(range(steps.start, steps.stop)):
        synaptic, weighted, nonzero = step_counts[s]
        record(counts, t, int(synaptic), weighted, int(nonzero), facts, has_bias)


def all_ones(values) -> bool:
    """Events of value 1 only (spikes): the binary kernels add the weight without multiplying."""
    return bool(np.all(values == 1))


def count(x, fan, fan_nonzero, facts, has_bias, counts) -> None:
    """Brute force over dense [T, ...] input: each nonzero input element contributes its
    fan-out (``fan``, ``fan_nonzero``: per input element, broadcastable to one step)."""
    per_step = lambda a: a.reshape(a.shape[0], -1).sum(axis=1)  # noqa: E731
    active = x != 0
    counts["synaptic_events"][:] = per_step(active * fan)
    counts["synaptic_events_nonzero"][:] = per_step(active * fan_nonzero)
    counts["weighted_synaptic_events"][:] = (per_step(np.rint(x).astype(np.int64) * fan)
                                             if facts.in_values[0] == INTEGER else counts["synaptic_events"])
    counts["dense_synaptic_ops"][:] = int(np.broadcast_to(fan, x.shape[1:]).sum())
    counts["dense_macs"][:] = facts.dense_ops
    counts["bias_adds"][:] = facts.out_elements if has_bias else 0


DETAIL_KEYS = ("synaptic", "weighted", "nonzero")


def detail(stats, facts, synapses=None) -> dict:
    """Measured synaptic, value-weighted and nonzero-weight events per existing synapse:
    the fan-out-weighted event rates, which equal the input rate only if events fall
    uniformly (a conv's border inputs have fewer synapses) and every weight is nonzero.
    ``synapses``: the denominator, if not the measured dense count (a masked layer's dense
    count covers its active tokens only; its rates are per synapse of all of them)."""
    synapses = sum(s.total("dense_synaptic_ops") for s in stats) if synapses is None else synapses
    return {key: sum(s.total(field) for s in stats) / synapses for key, field in
            zip(DETAIL_KEYS, ("synaptic_events", "weighted_synaptic_events", "synaptic_events_nonzero"))}


def expected(facts, rate: Rate, out_rate: Rate, counts) -> None:
    """Expected counts: the measured fan-out-weighted rates when declared; otherwise every
    synapse of an input element is used with that element's event probability (integer
    inputs weighted by their mean value) and, without weights, no weight is zero."""
    synapses = facts.synapses
    events = rate.events
    assumed = {"synaptic": events, "weighted": rate.spikes if facts.in_values[0] == INTEGER else events,
               "nonzero": events}
    fraction = {**assumed, **(out_rate.detail or {})}
    counts["synaptic_events"][:] = fraction["synaptic"] * synapses
    counts["synaptic_events_nonzero"][:] = fraction["nonzero"] * synapses
    counts["weighted_synaptic_events"][:] = fraction["weighted"] * synapses
    counts["dense_synaptic_ops"][:] = synapses
    counts["dense_macs"][:] = facts.dense_ops
    counts["bias_adds"][:] = facts.out_elements if facts.has_bias else 0
