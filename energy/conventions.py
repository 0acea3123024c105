"""Counting conventions: how a layer's raw counts become AC and MAC operations.

    paper      SOP = fr × dense FLOPs per step, fr = input spikes / input elements
               (the Spikformer family, syops-counter); padded borders included.
    exact      each input event's real fan-out (edge-exact), integer inputs by value.
    effective  exact, excluding zero weights (NeuroBench); integer inputs as MAC by default.
    dense      every input against every synapse it has, active or not.

Switches: integer (multi-spike) inputs as AC per spike or as MAC; bias and folded-BN
additions counted or not; analog inputs (the first conv, the head) as MAC or as AC.
Attention products are additions of spike coincidences (AC), as the papers count them.
"""
from __future__ import annotations

from dataclasses import dataclass

from evsim.spec import ANALOG, INTEGER

SYNAPTIC_KINDS = ("conv2d", "linear", "attention")


@dataclass(frozen=True)
class Convention:
    name: str
    integer_as: str = "ac"       # 'ac': one accumulate per spike; 'mac': one MAC per event
    count_bias: bool = True
    analog_as_mac: bool = True

    def describe(self) -> str:
        return (f"{self.name} (integer inputs as {self.integer_as.upper()}, bias/BN additions "
                f"{'counted' if self.count_bias else 'not counted'}, analog inputs as "
                f"{'MAC' if self.analog_as_mac else 'AC'})")


DEFAULTS = {
    "paper": Convention("paper", integer_as="ac", count_bias=False),
    "exact": Convention("exact", integer_as="ac", count_bias=True),
    "effective": Convention("effective", integer_as="mac", count_bias=True),
    "dense": Convention("dense", integer_as="ac", count_bias=True),
}


def get_convention(name: str, integer_as: str | None = None, count_bias: bool | None = None,
                   analog_as_mac: bool | None = None) -> Convention:
    if name not in DEFAULTS:
        raise ValueError(f"unknown convention '{name}': choose one of {', '.join(DEFAULTS)}")
    base = DEFAULTS[name]
    return Convention(name, integer_as or base.integer_as, base.count_bias if count_bias is None else count_bias,
                      base.analog_as_mac if analog_as_mac is None else analog_as_mac)


def synaptic_ops(stats, convention: Convention) -> tuple[float, bool]:
    """(operations, charged as MAC?) of a conv/linear/attention layer under a convention."""
    values = stats.input_values
    as_mac = (values == ANALOG and convention.analog_as_mac) or (values == INTEGER and convention.integer_as == "mac")
    if convention.name == "paper":
        spikes = stats.counts["input_events"] if as_mac and values == INTEGER else stats.counts["input_spikes"]
        rate = spikes / stats.counts["input_elements"]
        return float((rate * stats.counts["dense_macs"]).sum()), as_mac
    if stats.kind == "attention":
        second = {"exact": "weighted_synaptic_events", "effective": "synaptic_events_nonzero",
                  "dense": "dense_synaptic_ops"}[convention.name]
        first = stats.total("attention_coincidences")
        if convention.name == "dense":
            return float(stats.total("dense_macs")), False
        return float(first + stats.total(second)), False
    if convention.name == "exact":
        key = "weighted_synaptic_events" if values == INTEGER and not as_mac else "synaptic_events"
    elif convention.name == "effective":
        key = "synaptic_events_nonzero"
    else:
        key = "dense_synaptic_ops"
    return float(stats.total(key)), as_mac


def operations(stats, convention: Convention) -> dict:
    """Operations of one layer for one inference: ac, mac, neuron updates, spikes, and the
    memory-traffic basis (synaptic operations, input events)."""
    ops = {"ac": 0.0, "mac": 0.0, "neuron_updates": float(stats.total("neuron_updates")),
           "output_spikes": float(stats.total("output_spikes")), "synaptic_ops": 0.0,
           "input_events": float(stats.total("input_events")), "bias_adds": 0.0}
    if stats.kind in SYNAPTIC_KINDS:
        count, as_mac = synaptic_ops(stats, convention)
        ops["mac" if as_mac else "ac"] += count
        ops["synaptic_ops"] = count
        if convention.count_bias:
            ops["bias_adds"] = float(stats.total("bias_adds"))
            ops["ac"] += ops["bias_adds"]
    return ops
