"""Energy without weights: expected counts from a spec and declared firing rates.

A rate is declared per layer output (spikes per element per step): ``firing_rate:`` in the
spec, or a rates YAML ``{default: r, layers: {name: r}}``, where a layer's entry is a number
r (events = spikes = r) or ``{events: e, spikes: s}`` (a residual sum can carry more spikes
than events). Spiking layers need a declared rate (or the default); every other layer's
rate follows from its inputs by its kind's ``output_rate`` rule (stated in each kind's
docstring: max-pools and residual sums treat their inputs as independent; analog values
are all nonzero) unless it is declared too. Each kind's ``expected`` facet then gives its
expected LayerStats, priced by the same conventions as a measured run.
Zero weights are unknown without weights: 'effective' equals 'exact' here.
"""
from __future__ import annotations

import math

import numpy as np

from evsim.errors import ProfileError
from evsim.spec import ANALOG, INPUT_NAME, Spec, load_spec
from evsim.stats import ANALOG_RATE, LayerStats, Rate, expect_inputs

from .estimate import estimate
from .rates import RESERVED, load_rates, validate
from .report import EnergyReport


def propagate_rates(spec: Spec, declared: dict, provenance: dict | None = None) -> dict:
    """{layer: Rate} of every layer's output (and of the network input). ``provenance``, if
    given, receives {layer: 'declared' | 'spec' | 'default' | the kind's propagation rule}."""
    provenance = {} if provenance is None else provenance
    source = declared.get("__file__", spec.path)
    declared = validate(declared, source)
    for key in declared:
        if key not in RESERVED and key != INPUT_NAME and key not in spec.layers:
            raise ProfileError(f"rate given for '{key}', which is not a layer of {spec.name}", file=source,
                               fix="use layer names from 'evsim info SPEC'")
        if key in RESERVED:
            continue
        layer = spec.layers.get(key)
        unknown = set(declared[key].detail or ()) - set(layer.detail_keys if layer else ())
        if unknown:
            takes = ", ".join(("events", "spikes", *(layer.detail_keys if layer else ())))
            raise ProfileError(f"rate of '{key}' has unknown detail {sorted(unknown)}", file=source,
                               fix=f"{'a ' + layer.kind + ' layer' if layer else 'the network input'} takes {takes}")
    rates = {}
    if spec.input.values == ANALOG:
        rates[INPUT_NAME] = ANALOG_RATE
    else:
        rates[INPUT_NAME] = declared.get(INPUT_NAME, declared.get("default"))
        if rates[INPUT_NAME] is None:
            raise ProfileError("event-frame input needs a declared rate", file=source, fix="add 'input: r' to the rates")
    # a cycle's delayed inputs are not known on the first pass (taken as analog); a second pass settles them
    for name, layer in [item for _ in range(2 if spec.recurrent else 1) for item in spec.layers.items()]:
        if name in declared:
            rates[name], provenance[name] = declared[name], "declared"
        elif layer.firing_rate is not None:
            rates[name], provenance[name] = Rate(layer.firing_rate, layer.firing_rate), "spec"
        elif layer.rate_is_declared:
            if "default" not in declared:
                raise ProfileError(f"no firing rate declared for spiking layer '{name}'", file=source,
                                   fix="declare 'firing_rate:' in the spec, or a rate or a 'default' in the rates file")
            rates[name], provenance[name] = declared["default"], "default"
        else:
            rates[name] = layer.output_rate(spec.facts(name), [rates.get(i, ANALOG_RATE) for i in layer.inputs])
            provenance[name] = f"{layer.kind}: {layer.rate_rule}"
        if provenance[name] in ("spec", "default"):   # a rate per neuron, as a rate per element of the output
            rates[name] = layer.per_element_rate(spec.facts(name), rates[name],
                                                 [rates.get(i, ANALOG_RATE) for i in layer.inputs])
    return rates


def describe_provenance(provenance: dict, source: str | None) -> str:
    """One line: how many rates were declared, defaulted, and propagated by which rule."""
    tally: dict = {}
    for how in provenance.values():
        tally[how] = tally.get(how, 0) + 1
    parts = [f"{how} at {tally[how]} layer(s)" + (f" ({source})" if how == "declared" and source else "")
             for how in ("declared", "spec", "default") if how in tally]
    by_rule: dict = {}
    for how, n in tally.items():
        if how not in ("declared", "spec", "default"):
            kind, rule = how.split(": ", 1)
            by_rule.setdefault(rule, []).append(f"{n} {kind}")
    parts += [f"propagated at {', '.join(kinds)} ({rule})" for rule, kinds in by_rule.items()]
    return "rates " + "; ".join(parts)


def analytic_stats(spec: Spec, declared: dict, provenance: dict | None = None) -> dict:
    """Expected LayerStats (float counts) of every counted layer."""
    rates = propagate_rates(spec, declared, provenance)
    parameter_shapes = spec.parameter_shapes()
    folded_into = {producer: norm for norm, producer in spec.fused.items()}
    out = {}
    for name, layer in spec.layers.items():
        if not layer.counted or name in spec.fused:
            continue
        facts = spec.facts(name)
        own = parameter_shapes.get(name, {})
        weights = int(sum(math.prod(s) for s in own.values()))
        if name in folded_into and "bias" not in own:   # a folded normalisation adds its shift as a bias,
            weights += math.prod(parameter_shapes[folded_into[name]]["bias"])  # as in a measured run's weights
        stats = LayerStats.for_layer(facts, layer.kind, weights, dtype=np.float64)
        in_rates = [rates[i] for i in layer.inputs]
        expect_inputs(facts, in_rates, stats.counts)
        layer.expected(facts, in_rates, rates[name], stats.counts)
        out[name] = stats
    return out


def analytic(spec: Spec | str, rates: dict | str | None, profile="horowitz45-fp32", convention="paper",
             **switches) -> EnergyReport:
    """EnergyReport of one inference from declared rates: ``rates`` is a dict, a rates YAML
    path, or None (rates from the spec's ``firing_rate:`` entries)."""
    from evsim.resources import check_analytic
    spec = spec if isinstance(spec, Spec) else load_spec(spec)
    if rates is not None and not isinstance(rates, (str, dict)) and not hasattr(rates, "__fspath__"):
        raise ProfileError(f"rates must be a dict {{layer: rate}}, a rates YAML path or None, got {type(rates).__name__}")
    check_analytic(spec)
    declared = load_rates(rates) if isinstance(rates, str) or hasattr(rates, "__fspath__") else dict(rates or {})
    provenance: dict = {}
    stats = analytic_stats(spec, declared, provenance)
    source = f"analytic, {describe_provenance(provenance, declared.get('__file__'))}"
    return estimate(stats, profile, convention, spec_name=spec.name, source=source, **switches)
