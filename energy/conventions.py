"""Counting conventions: how a layer's raw counts become AC and MAC operations.

    paper      SOP = fr × dense FLOPs per step, fr = input spikes / input elements
               (the Spikformer family, syops-counter); padded borders included.
    exact      each input event's real fan-out (edge-exact), integer inputs by value,
               plus the binary coincidences of an attention's first product.
    effective  exact, excluding zero weights (NeuroBench); integer inputs as MAC by default.
    dense      every input against every synapse it has, active or not.

A convention is data — which LayerStats field counts the synaptic operations, whether it is
scaled by the input rate, whether attention coincidences are added — so measured runs and
declared rates are priced by one rule, whatever the layer's kind.
Switches: integer (multi-spike) inputs as AC per spike or as MAC; bias and folded-BN
additions counted or not; analog inputs (the first conv, the head) as MAC or as AC.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from evsim.errors import EvsimError
from evsim.spec import ANALOG, INTEGER

INTEGER_AS = ("ac", "mac")


@dataclass(frozen=True)
class Convention:
    name: str
    synaptic_field: str            # the LayerStats field that counts synaptic operations
    scale_by_input_rate: bool      # × (input spikes / input elements) per step (the paper's fr × FLOPs)
    by_value: bool                 # AC-priced integer inputs count value-weighted events (a 2 is two spikes)
    add_coincidences: bool         # + attention_coincidences (the first attention product)
    integer_as: str = "ac"         # 'ac': one accumulate per spike; 'mac': one MAC per event
    count_bias: bool = True
    analog_as_mac: bool = True

    def describe(self) -> str:
        return (f"{self.name} (integer inputs as {self.integer_as.upper()}, bias/BN additions "
                f"{'counted' if self.count_bias else 'not counted'}, analog inputs as "
                f"{'MAC' if self.analog_as_mac else 'AC'})")


DEFAULTS = {
    "paper": Convention("paper", "dense_macs", scale_by_input_rate=True, by_value=False, add_coincidences=False,
                        integer_as="ac", count_bias=False),
    "exact": Convention("exact", "synaptic_events", scale_by_input_rate=False, by_value=True, add_coincidences=True),
    "effective": Convention("effective", "synaptic_events_nonzero", scale_by_input_rate=False, by_value=False,
                            add_coincidences=True, integer_as="mac"),
    "dense": Convention("dense", "dense_synaptic_ops", scale_by_input_rate=False, by_value=False,
                        add_coincidences=False),
}


def get_convention(name: str, integer_as: str | None = None, count_bias: bool | None = None,
                   analog_as_mac: bool | None = None) -> Convention:
    if name not in DEFAULTS:
        raise EvsimError(f"unknown convention '{name}'", fix=f"choose one of {', '.join(DEFAULTS)}")
    if integer_as is not None and integer_as not in INTEGER_AS:
        raise EvsimError(f"integer inputs are priced as 'ac' or 'mac', got {integer_as!r}")
    base = DEFAULTS[name]
    changes = {k: v for k, v in (("integer_as", integer_as), ("count_bias", count_bias),
                                 ("analog_as_mac", analog_as_mac)) if v is not None}
    return dataclasses.replace(base, **changes)


def charged_as_mac(stats, convention: Convention) -> bool:
    values = stats.input_values
    return (values == ANALOG and convention.analog_as_mac) or (values == INTEGER and convention.integer_as == "mac")


def synaptic_ops(stats, convention: Convention) -> tuple[float, bool]:
    """(operations, charged as MAC?) of one layer under a convention."""
    as_mac = charged_as_mac(stats, convention)
    c = stats.counts
    if convention.scale_by_input_rate:
        spikes = c["input_events"] if as_mac and stats.input_values == INTEGER else c["input_spikes"]
        rate = np.divide(spikes, c["input_elements"], out=np.zeros(stats.steps), where=c["input_elements"] > 0)
        count = float((rate * c[convention.synaptic_field]).sum())
    else:
        field = convention.synaptic_field
        if convention.by_value and not as_mac and field == "synaptic_events":
            field = "weighted_synaptic_events"
        count = float(stats.total(field))
    if convention.add_coincidences:
        count += float(stats.total("attention_coincidences"))
    return count, as_mac


def operations(stats, convention: Convention) -> dict:
    """Operations of one layer for one inference: ac, mac, neuron updates, spikes, and the
    memory-traffic basis (synaptic operations, input events)."""
    count, as_mac = synaptic_ops(stats, convention)
    bias_adds = float(stats.total("bias_adds")) if convention.count_bias else 0.0   # each an addition (AC)
    return {"ac": (0.0 if as_mac else count) + bias_adds, "mac": count if as_mac else 0.0,
            "neuron_updates": float(stats.total("neuron_updates")), "output_spikes": float(stats.total("output_spikes")),
            "synaptic_ops": count, "input_events": float(stats.total("input_events")), "bias_adds": bias_adds}
