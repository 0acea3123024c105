"""Pricing: LayerStats × convention × profile → EnergyReport. Never runs a network.

Per layer:  E = E_AC·AC + E_MAC·MAC + E_update·updates + E_route·spikes + E_memory,
with, for memory-aware profiles (Lemaire et al. 2022 style),
E_memory = Σ_arrays accesses × e(buffer bytes), accesses being weight reads and potential
read/writes per synaptic operation, potential read/writes per neuron update, one read per
input event and one write per output spike, plus one access per event written to or read from
an explicit memory of earlier steps (``memory_reads``/``memory_writes``, DISTA's window);
where each access is served (buffer or backing memory) follows the profile's dataflow
(``energy/dataflow.py``: no-reuse, weight-stationary, output-stationary).
"""
from __future__ import annotations

import math

from evsim.errors import EvsimError, ProfileError
from evsim.stats import LayerStats

from .conventions import Convention, get_convention, operations
from .dataflow import layer_traffic
from .profiles import Profile, load_profile
from .report import EnergyReport, LayerEnergy

FIGURES = ("ac", "mac", "neuron_updates", "output_spikes", "ac_pj", "mac_pj", "neuron_pj", "memory_pj")


def memory_energy_pj(ops: dict, stats, profile: Profile) -> dict:
    """Memory accesses and their energy for one layer under the profile's dataflow
    (:mod:`energy.dataflow`); empty without a memory model."""
    return {} if profile.memory is None else layer_traffic(ops, stats, profile.memory)


def price_layer(stats, convention: Convention, profile: Profile) -> LayerEnergy:
    ops = operations(stats, convention)
    e = profile.energy_pj
    memory = memory_energy_pj(ops, stats, profile)
    return LayerEnergy(
        layer=stats.name, kind=stats.kind, input_values=stats.input_values,
        ac=ops["ac"], mac=ops["mac"], neuron_updates=ops["neuron_updates"], output_spikes=ops["output_spikes"],
        ac_pj=ops["ac"] * e["ac"], mac_pj=ops["mac"] * e["mac"],
        neuron_pj=ops["neuron_updates"] * e.get("neuron_update", 0.0) + ops["output_spikes"] * e.get("spike_routing", 0.0),
        memory_pj=memory.get("memory_pj", 0.0), memory_accesses={k: v for k, v in memory.items() if k != "memory_pj"},
    )


def estimate(stats_or_run, profile: str | Profile = "horowitz45-fp32", convention: str | Convention = "exact", *,
             integer_as: str | None = None, count_bias: bool | None = None, analog_as_mac: bool | None = None,
             spec_name: str = "", source: str = "measured") -> EnergyReport:
    """Energy of one inference. ``stats_or_run``: a Run, or {layer: LayerStats}."""
    stats = getattr(stats_or_run, "stats", stats_or_run)
    spec_name = spec_name or getattr(stats_or_run, "spec_name", "")
    profile = load_profile(profile)   # a Profile passes through
    convention = convention if isinstance(convention, Convention) else get_convention(
        convention, integer_as, count_bias, analog_as_mac)
    if not isinstance(stats, dict) or not all(isinstance(s, LayerStats) for s in stats.values()):
        raise EvsimError(f"estimate() takes a Run or {{layer: LayerStats}}, got {type(stats_or_run).__name__}")
    rows = [price_layer(s, convention, profile) for s in stats.values()]
    rows = [r for r in rows if r.total_pj or r.ac or r.mac or r.neuron_updates]
    bad = next((r for r in rows if not all(math.isfinite(getattr(r, f)) and getattr(r, f) >= 0 for f in FIGURES)), None)
    if bad is not None:  # every input is checked on entry; this guards what a plug-in kind or profile could still do
        raise ProfileError(f"layer '{bad.layer}' prices to a negative or non-finite energy", file=profile.path or None,
                           fix="check the profile's figures and the layer's counts")
    return EnergyReport(spec_name, convention, profile, rows, source, stats)
