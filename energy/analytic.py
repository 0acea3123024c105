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
import numbers

import numpy as np

from evsim import validate
from evsim.errors import ProfileError, SpecError
from evsim.spec import ANALOG, INPUT_NAME, Spec, load_spec
from evsim.spec.yamlio import read_yaml
from evsim.stats import ANALOG_RATE, LayerStats, Rate, expect_inputs

from .estimate import estimate
from .report import EnergyReport

RESERVED = ("default", "__file__")


def _rate_ok(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and 0 <= value <= 1


as_rate = validate.rate  # one check of a declared rate, for files and dicts alike


def load_rates(path) -> dict:
    """Read ``{default: r, layers: {name: rate}}`` (or a flat ``{name: rate}``)."""
    try:
        raw = read_yaml(path, "rates file")
    except SpecError as err:
        raise ProfileError(err.bare_message, file=err.file, line=err.line, fix=err.fix) from None
    if not isinstance(raw, dict):
        raise ProfileError("a rates file must be a mapping", file=str(path), fix="write 'default: 0.15' and/or 'layers: {name: rate}'")
    layers = raw.get("layers", {k: v for k, v in raw.items() if k != "default"})
    if not isinstance(layers, dict):
        raise ProfileError("'layers' must map layer names to rates", file=str(path), line=raw.line_of("layers"))
    rates = {key: as_rate(key, value, str(path), layers.line_of(key) if hasattr(layers, "line_of") else None)
             for key, value in layers.items()}
    if "default" in raw:
        if not _rate_ok(raw["default"]):
            raise ProfileError(f"'default' must be a rate in [0, 1], got {raw['default']!r}", file=str(path), line=raw.line_of("default"))
        rates["default"] = Rate(float(raw["default"]), float(raw["default"]))
    rates["__file__"] = str(path)
    return rates


def _declared(declared: dict, source: str) -> dict:
    """Validate a rates dict given in Python (numbers or Rate/{events, spikes} per layer)."""
    out = {}
    for key, value in declared.items():
        if key == "__file__":
            out[key] = value
        else:
            out[key] = as_rate(key, value, source)
    return out


def propagate_rates(spec: Spec, declared: dict) -> dict:
    """{layer: Rate} of every layer's output (and of the network input)."""
    source = declared.get("__file__", spec.path)
    declared = _declared(declared, source)
    for key in declared:
        if key not in RESERVED and key != INPUT_NAME and key not in spec.layers:
            raise ProfileError(f"rate given for '{key}', which is not a layer of {spec.name}", file=source,
                               fix="use layer names from 'evsim info SPEC'")
    rates = {}
    if spec.input.values == ANALOG:
        rates[INPUT_NAME] = ANALOG_RATE
    else:
        rates[INPUT_NAME] = declared.get(INPUT_NAME, declared.get("default"))
        if rates[INPUT_NAME] is None:
            raise ProfileError("event-frame input needs a declared rate", file=source, fix="add 'input: r' to the rates")
    for name, layer in spec.layers.items():
        if name in declared:
            rates[name] = declared[name]
        elif layer.firing_rate is not None:
            rates[name] = Rate(layer.firing_rate, layer.firing_rate)
        elif layer.rate_is_declared:
            if "default" not in declared:
                raise ProfileError(f"no firing rate declared for spiking layer '{name}'", file=source,
                                   fix="declare 'firing_rate:' in the spec, or a rate or a 'default' in the rates file")
            rates[name] = declared["default"]
        else:
            rates[name] = layer.output_rate(spec.facts(name), [rates[i] for i in layer.inputs])
    return rates


def analytic_stats(spec: Spec, declared: dict) -> dict:
    """Expected LayerStats (float counts) of every counted layer."""
    rates = propagate_rates(spec, declared)
    parameter_shapes = spec.parameter_shapes()
    out = {}
    for name, layer in spec.layers.items():
        if not layer.counted or name in spec.fused:
            continue
        facts = spec.facts(name)
        weights = int(sum(math.prod(s) for s in parameter_shapes.get(name, {}).values()))
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
    return estimate(analytic_stats(spec, declared), profile, convention, spec_name=spec.name, source="analytic",
                    **switches)
