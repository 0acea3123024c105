"""Firing rates as data: declared by an analyst, or measured by a run and written back.

A rates file is YAML::

    spec: spikformer-cifar10-2-384      # optional: what it describes
    inputs: 100                         # optional: how many inputs a measurement averaged
    default: 0.15                       # the rate of every spiking layer not listed
    layers:
      patch_embed.proj_lif: 0.12        # a number r: events = spikes = r per element per step
      block.0.add_attn: {events: 0.31, spikes: 0.36}   # integer values: a 2 is two spikes
      block.0.attn.ssa: {events: 1.0, spikes: 1.0, coincidences: 0.013, scatters: 0.29, weighted: 0.41, nonzero: 0.044}

A rate may be given at any layer (papers publish per-layer input rates). Keys beyond
events and spikes are the layer kind's measured ``detail`` (its ``detail_keys``), which
its expected counts use instead of an independence assumption. ``evsim run/energy
--save-rates FILE`` writes every layer's measured rate, so ``evsim energy SPEC --rates
FILE`` reproduces that run's counts.
"""
from __future__ import annotations

import math
import numbers

from evsim import __version__, validate
from evsim.errors import ProfileError, SpecError
from evsim.files import write_atomic
from evsim.spec import INPUT_NAME
from evsim.spec.yamlio import read_yaml
from evsim.stats import Rate

RESERVED = ("default", "__file__")
METADATA = ("spec", "inputs", "engine", "source", "description")


def _number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def _rate_ok(value) -> bool:
    return _number(value) and 0 <= value <= 1


as_rate = validate.rate  # one check of a declared rate, for files and dicts alike


def load_rates(path) -> dict:
    """Read a rates file into {layer: Rate, 'default': Rate, '__file__': path}."""
    try:
        raw = read_yaml(path, "rates file")
    except SpecError as err:
        raise ProfileError(err.bare_message, file=err.file, line=err.line, fix=err.fix) from None
    if not isinstance(raw, dict):
        raise ProfileError("a rates file must be a mapping", file=str(path),
                           fix="write 'default: 0.15' and/or 'layers: {name: rate}'")
    layers = raw.get("layers", {k: v for k, v in raw.items() if k != "default" and k not in METADATA})
    if not isinstance(layers, dict):
        raise ProfileError("'layers' must map layer names to rates", file=str(path), line=raw.line_of("layers"))
    rates = {key: as_rate(key, value, str(path), layers.line_of(key) if hasattr(layers, "line_of") else None)
             for key, value in layers.items()}
    if "default" in raw:
        if not _rate_ok(raw["default"]):
            raise ProfileError(f"'default' must be a rate in [0, 1], got {raw['default']!r}", file=str(path),
                               line=raw.line_of("default"))
        rates["default"] = Rate(float(raw["default"]), float(raw["default"]))
    rates["__file__"] = str(path)
    return rates


def validate(declared: dict, source: str) -> dict:
    """Check a rates dict given in Python ({layer: number | Rate | {events, spikes, …}})."""
    return {key: value if key == "__file__" else as_rate(key, value, source) for key, value in declared.items()}


def measured_rates(runs, spec) -> dict:
    """{layer: Rate} averaged over ``runs`` (pooled: Σ events / Σ elements), with each kind's
    measured detail from the runs' LayerStats."""
    totals = {}
    for run in runs:
        for name, (elements, events, spikes) in run.activity.items():
            e, v, s = totals.get(name, (0, 0, 0.0))
            totals[name] = (e + elements, v + events, s + spikes)
    rates = {}
    for name, (elements, events, spikes) in totals.items():
        detail = None
        if name != INPUT_NAME and name in runs[0].stats:
            pooled = [run.stats[name] for run in runs]
            detail = spec.layers[name].detail(pooled, spec.facts(name)) or None
        rates[name] = Rate(events / elements if elements else 0.0, spikes / elements if elements else 0.0, detail)
    return rates


def rates_document(rates: dict, spec, inputs: int, engine: str) -> str:
    """The YAML text of measured rates (every layer, in spec order, 6 significant digits)."""
    lines = [f"# measured firing rates (per element per step) of {spec.name}, averaged over {inputs} input(s);",
             f"# written by evsim {__version__} — evsim energy SPEC --rates THIS_FILE reproduces the run's counts",
             f"spec: {spec.name}", f"inputs: {inputs}", f"engine: {engine}", "layers:"]
    for name in [INPUT_NAME, *spec.layers]:
        if name not in rates:
            continue
        r = rates[name]
        if r.events == r.spikes and not r.detail:
            lines.append(f"  {name}: {r.events:.6g}")
        else:
            extra = "".join(f", {k}: {v:.6g}" for k, v in (r.detail or {}).items())
            lines.append(f"  {name}: {{events: {r.events:.6g}, spikes: {r.spikes:.6g}{extra}}}")
    return "\n".join(lines) + "\n"


def save_rates(path, runs, spec) -> dict:
    """Write the measured rates of ``runs`` to ``path`` (atomically); returns them."""
    from pathlib import Path
    rates = measured_rates(runs, spec)
    text = rates_document(rates, spec, len(runs), runs[0].engine)
    write_atomic(path, lambda tmp: Path(tmp).write_text(text))
    return rates
