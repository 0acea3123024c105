"""Energy without weights: expected counts from a spec and declared firing rates.

Each spiking layer has a declared rate r (spikes per neuron per step: ``firing_rate:`` in
the spec, or a rates YAML ``{default: r, layers: {name: r}}``). Rates propagate as if
spikes were independent: a max-pool of k² binary inputs fires with 1 − (1 − r)^{k²}, a
residual sum carries Σ r_i spikes per element in 1 − Π(1 − r_i) events; analog values are
all nonzero. Expected counts then follow from the spec's synapse counts:
synaptic events = r_events × synapses (edge-exact), integer inputs weighted by r_spikes;
attention: qk_first coincidences r_q r_k N² D, kv_first r_k r_v N D d.
Zero weights are unknown without weights: 'effective' equals 'exact' here.
"""
from __future__ import annotations

import math

import numpy as np

from evsim.errors import ProfileError, SpecError
from evsim.spec import ANALOG, INPUT_NAME, INTEGER, Spec, load_spec
from evsim.spec.yamlio import read_yaml
from evsim.stats import LayerStats

from .estimate import estimate


def _rate_ok(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= 1


def load_rates(path) -> dict:
    """Read ``{default: r, layers: {name: r}}`` (or a flat ``{name: r}``); rates in [0, 1]."""
    try:
        raw = read_yaml(path, "rates file")
    except SpecError as err:
        raise ProfileError(err.bare_message, file=err.file, line=err.line, fix=err.fix) from None
    if not isinstance(raw, dict):
        raise ProfileError("a rates file must be a mapping", file=str(path), fix="write 'default: 0.15' and/or 'layers: {name: rate}'")
    layers = raw.get("layers", {k: v for k, v in raw.items() if k != "default"})
    if not isinstance(layers, dict):
        raise ProfileError("'layers' must map layer names to rates", file=str(path), line=raw.line_of("layers"))
    rates = {}
    for key, value in layers.items():
        if not _rate_ok(value):
            raise ProfileError(f"rate of '{key}' must be a number in [0, 1] spikes per neuron per step, got {value!r}",
                               file=str(path), line=layers.line_of(key) if hasattr(layers, "line_of") else None)
        rates[key] = float(value)
    if "default" in raw:
        if not _rate_ok(raw["default"]):
            raise ProfileError(f"'default' must be a rate in [0, 1], got {raw['default']!r}", file=str(path), line=raw.line_of("default"))
        rates["default"] = float(raw["default"])
    rates["__file__"] = str(path)
    return rates


def propagate_rates(spec: Spec, declared: dict) -> dict:
    """{layer: (event rate, spike rate)} of every layer's output, per element per step."""
    source = declared.get("__file__", spec.path)
    rated = {n for n, l in spec.layers.items() if l.spiking or l.kind == "maxpool2d"}
    for key in declared:
        if key in (INPUT_NAME, "default", "__file__") or key in rated:
            continue
        if key in spec.layers:
            raise ProfileError(f"rate given for '{key}', a {spec.layers[key].kind} layer: rates are declared for "
                               "spiking layers (and max-pools)", file=source, fix="declare the rate of the spiking layer after it")
        raise ProfileError(f"rate given for '{key}', which is not a layer of {spec.name}", file=source,
                           fix="use layer names from 'evsim info SPEC'")
    rates = {}
    inp = spec.input
    if inp.values == ANALOG:
        rates[INPUT_NAME] = (1.0, 1.0)
    else:
        r = declared.get(INPUT_NAME, declared.get("default"))
        if r is None:
            raise ProfileError("event-frame input needs a declared rate", file=source, fix="add 'input: r' to the rates")
        rates[INPUT_NAME] = (r, r)
    for name, layer in spec.layers.items():
        ins = [rates[i] for i in layer.inputs]
        if layer.spiking:
            r = declared.get(name, layer.firing_rate if layer.firing_rate is not None else declared.get("default"))
            if r is None:
                raise ProfileError(f"no firing rate declared for spiking layer '{name}'", file=source,
                                   fix="declare 'firing_rate:' in the spec, or a rate or a 'default' in the rates file")
            rates[name] = (r, r)
        elif layer.kind == "maxpool2d" and spec.values[name] != ANALOG:
            window = layer.kernel_size[0] * layer.kernel_size[1]
            r = declared.get(name, 1 - (1 - ins[0][0]) ** window)
            rates[name] = (r, r)
        elif layer.kind == "add" and spec.values[name] == INTEGER:
            rates[name] = (1 - math.prod(1 - e for e, _ in ins), sum(s for _, s in ins))
        elif layer.kind in ("tokens", "flatten"):
            rates[name] = ins[0]
        else:
            rates[name] = (1.0, 1.0)
    return rates


def analytic_stats(spec: Spec, declared: dict) -> dict:
    """Expected LayerStats (float counts) of every layer that does work."""
    rates = propagate_rates(spec, declared)
    bias_layers = {l.inputs[0] for l in spec.layers.values() if l.kind == "batchnorm"}
    parameter_shapes = spec.parameter_shapes()
    out = {}
    for name, layer in spec.layers.items():
        if layer.kind not in ("conv2d", "linear", "attention", "lif", "if"):
            continue
        stats = LayerStats.empty(name, layer.kind, spec.in_values(name)[0], spec.steps(name), dtype=np.float64)
        shapes = parameter_shapes.get(name, {})
        stats.weights = int(sum(math.prod(s) for s in shapes.values()))
        stats.outputs = math.prod(spec.shapes[name])
        c = stats.counts
        in_shapes = spec.in_shapes(name)
        elements = sum(math.prod(s) for s in in_shapes)
        events = sum(rates[i][0] * math.prod(s) for i, s in zip(layer.inputs, in_shapes))
        spikes = sum(rates[i][1] * math.prod(s) for i, s in zip(layer.inputs, in_shapes))
        c["input_elements"][:] = elements
        c["input_events"][:] = events
        c["input_spikes"][:] = spikes if stats.input_values == INTEGER else events
        r_events, r_spikes = rates[layer.inputs[0]]
        if layer.kind in ("conv2d", "linear"):
            synapses = layer.synapses(in_shapes, spec.shapes[name])
            c["synaptic_events"][:] = r_events * synapses
            c["synaptic_events_nonzero"][:] = r_events * synapses
            c["weighted_synaptic_events"][:] = (r_spikes if stats.input_values == INTEGER else r_events) * synapses
            c["dense_synaptic_ops"][:] = synapses
            c["dense_macs"][:] = spec.dense_ops(name)
            c["bias_adds"][:] = stats.outputs if (getattr(layer, "bias", False) or name in bias_layers) else 0
            if len(in_shapes[0]) == 2:
                c["tokens"][:] = in_shapes[0][0]
        elif layer.kind == "attention":
            _expected_attention(layer, [rates[i][0] for i in layer.inputs], in_shapes[0], c, spec.dense_ops(name))
        else:
            c["neuron_updates"][:] = stats.outputs
            c["output_spikes"][:] = rates[name][1] * stats.outputs
        out[name] = stats
    return out


def _expected_attention(layer, rq_rk_rv, shape, c, dense_macs):
    rq, rk, rv = rq_rk_rv
    n, width = shape
    d = width // layer.heads
    c["tokens"][:] = n
    c["dense_macs"][:] = dense_macs
    if layer.order == "qk_first":
        c["attention_coincidences"][:] = rq * rk * n * n * width
        p_score = 1 - (1 - rq * rk) ** d                      # P((QKᵀ)[n, m] ≠ 0) per head
        c["synaptic_events"][:] = layer.heads * n * n * p_score * d
        c["weighted_synaptic_events"][:] = layer.heads * n * n * (rq * rk * d) * d
        c["synaptic_events_nonzero"][:] = layer.heads * n * n * p_score * rv * d
        c["dense_synaptic_ops"][:] = n * n * width
    else:
        c["attention_coincidences"][:] = rk * rv * n * width * d
        c["synaptic_events"][:] = rq * n * width * d
        c["weighted_synaptic_events"][:] = rq * n * width * d
        c["synaptic_events_nonzero"][:] = rq * n * width * d * (1 - (1 - rk * rv) ** n)
        c["dense_synaptic_ops"][:] = n * width * d


def analytic(spec, rates, profile="horowitz45-fp32", convention="paper", **switches):
    """EnergyReport of one inference from declared rates: ``rates`` is a dict, a rates YAML
    path, or None (rates from the spec's ``firing_rate:`` entries)."""
    spec = spec if isinstance(spec, Spec) else load_spec(spec)
    declared = load_rates(rates) if isinstance(rates, (str,)) or hasattr(rates, "__fspath__") else dict(rates or {})
    return estimate(analytic_stats(spec, declared), profile, convention, spec_name=spec.name, source="analytic",
                    **switches)
