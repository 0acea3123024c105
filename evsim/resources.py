"""The memory guard: what a command will hold, estimated from the spec before anything is
allocated, against a budget — so no spec, input or batch can exhaust the machine.

An estimate is a list of named parts (weights as read, folded, prepared for the engine;
the activations a layer-major walk holds at its peak, with the largest layer workspace;
the spikes every run keeps; the runs of a batch). :func:`check` refuses an estimate over
the budget with one line naming the largest part. The budget is, in order: the
``budget_bytes`` argument, ``--memory-budget`` / :func:`set_budget`, the environment variable
``EVSIM_MEMORY_BUDGET`` (``8GiB``, ``500MB``, ``2e9``), else 80 % of the machine's memory
(or of the cgroup limit, if lower).
"""
from __future__ import annotations

import math
import os
import re
from pathlib import Path

import numpy as np

from .errors import EvsimError, MemoryBudgetError

UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
         "k": 2**10, "kib": 2**10, "m": 2**20, "mib": 2**20, "g": 2**30, "gib": 2**30, "t": 2**40, "tib": 2**40}
_budget_override: int | None = None


def parse_size(text) -> int:
    """'8GiB', '500MB', '2e9', 4096 → bytes (> 0)."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        value, unit = float(text), ""
    else:
        match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([A-Za-z]*)\s*", str(text))
        if not match or match.group(2).lower() not in UNITS:
            raise EvsimError(f"cannot read the memory size {text!r}", fix="write e.g. 8GiB, 500MB or 2e9 (bytes)")
        value, unit = float(match.group(1)), match.group(2).lower()
    size = value * UNITS[unit]
    if not math.isfinite(size) or size < 1 or size > 2**62:
        raise EvsimError(f"the memory size {text!r} is out of range", fix="give a positive size such as 8GiB")
    return int(size)


def set_budget(size) -> None:
    """Set the process-wide budget (what ``--memory-budget`` does); None restores the default."""
    global _budget_override
    _budget_override = None if size is None else parse_size(size)


def machine_memory_bytes() -> int:
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        total = 8 << 30
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if limit.isdigit():
            total = min(total, int(limit))
    except OSError:
        pass
    return total


def budget(budget_bytes=None) -> int:
    if budget_bytes is not None:
        return parse_size(budget_bytes)
    if _budget_override is not None:
        return _budget_override
    env = os.environ.get("EVSIM_MEMORY_BUDGET")
    if env:
        return parse_size(env)
    return int(0.8 * machine_memory_bytes())


def _gib(n: float) -> str:
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.1f} MiB"


def check(parts: list[tuple[str, int]], what: str, budget_bytes=None, file=None) -> int:
    """Refuse ``parts`` ([(name, bytes)]) if their sum is over the budget; returns the sum."""
    limit = budget(budget_bytes)
    need = int(sum(size for _, size in parts))
    if need > limit:
        name, size = max(parts, key=lambda p: p[1])
        raise MemoryBudgetError(f"{what} needs about {_gib(need)}, over the memory budget of {_gib(limit)}; "
                                f"the largest part is {name} ({_gib(size)})", file=file,
                                fix="shrink the spec (input size, T, widths) or the batch, or raise --memory-budget / "
                                    "EVSIM_MEMORY_BUDGET if the machine has the memory")
    return need


# -- estimates -------------------------------------------------------------------------------

def _elements(shape) -> int:
    return math.prod(shape)


def weight_elements(spec) -> tuple[int, str]:
    """(parameters in the weights file, the layer holding most of them)."""
    per_layer = {name: sum(_elements(s) for s in shapes.values()) for name, shapes in spec.parameter_shapes().items()}
    if not per_layer:
        return 0, ""
    largest = max(per_layer, key=per_layer.get)
    return sum(per_layer.values()), largest


def _workspace(spec, name, engine) -> int:
    facet = getattr(spec.layers[name], "workspace_elements", None)
    return int(facet(spec.in_shapes(name), spec.shapes[name], spec.steps(name), engine)) if facet else 0


def counts_bytes(spec) -> int:
    """The LayerStats of one run or one analytic estimate: every count field per layer and step."""
    from .stats import COUNT_FIELDS
    return sum(spec.steps(n) for n, layer in spec.layers.items() if getattr(layer, "counted", True)) * len(COUNT_FIELDS) * 8


def activation_parts(spec, itemsize: int, engine: str) -> tuple[list[tuple[str, int]], int]:
    """The peak of what a layer-major walk holds: every live output over its steps (spikes are
    never freed: a Run keeps them), plus the workspace of the layer being computed."""
    last = {}
    for name, layer in spec.layers.items():
        for ref in layer.inputs:
            last[ref] = name
    size = {n: _elements(spec.shapes[n]) * spec.steps(n) for n in spec.layers}
    held = {"input": _elements(spec.shapes["input"]) * spec.input.T}
    peak, peak_layer, spikes = 0, "", 0
    for name, layer in spec.layers.items():
        live = sum(held.values()) + size[name] + _workspace(spec, name, engine)
        if live > peak:
            peak, peak_layer = live, name
        held[name] = size[name]
        if layer.spiking:
            spikes += size[name]
        for ref in layer.inputs:
            if last.get(ref) == name and ref != spec.output and not getattr(spec.layers.get(ref), "spiking", False):
                held.pop(ref, None)
    return [(f"the activations at layer '{peak_layer}'", peak * itemsize)], spikes


def run_parts(spec, dtype, engine: str = "event", batch: int = 1) -> list[tuple[str, int]]:
    """What running ``batch`` inputs holds: weights (float64 as bound, folded, prepared in
    ``dtype``, the event engine's transposed copy), the walk's peak, and every earlier run's
    spikes and output (a batch keeps them all)."""
    itemsize = np.dtype(dtype).itemsize
    weights, largest = weight_elements(spec)
    where = f" (largest: '{largest}')" if largest else ""
    prepared = weights * itemsize * (2 if engine == "event" else 1)
    parts = [(f"the weights{where}", weights * 8 * 2 + prepared)]
    activations, spike_elements = activation_parts(spec, itemsize, engine)
    parts += activations
    parts.append(("the operation counts", counts_bytes(spec) * batch))
    if batch > 1:
        kept = (spike_elements + _elements(spec.shapes[spec.output]) * spec.steps(spec.output)) * itemsize
        parts.append((f"the spikes and outputs kept for a batch of {batch}", kept * (batch - 1)))
    return parts


def saved_spikes_bytes(spec, batch: int) -> int:
    """The uint8 copy of every spiking layer's spikes that ``--save-spikes`` writes."""
    return sum(_elements(spec.shapes[n]) * spec.steps(n) for n, l in spec.layers.items() if l.spiking) * batch


def check_run(spec, dtype, engine="event", batch=1, budget_bytes=None, extra=()) -> int:
    what = "this run" if batch == 1 else f"this batch of {batch} runs"
    return check(run_parts(spec, dtype, engine, batch) + list(extra), what, budget_bytes, spec.path)


def check_weights(spec, budget_bytes=None, file_bytes: int = 0) -> int:
    """Reading and binding a weight set: the file's arrays, then float64 copies."""
    weights, largest = weight_elements(spec)
    parts = [(f"the weights (largest: '{largest}')" if largest else "the weights", weights * 8 * 2)]
    if file_bytes:
        parts.append(("the weights file as read", file_bytes))
    return check(parts, "loading the weights", budget_bytes, spec.path)


def check_calibration(spec, budget_bytes=None) -> int:
    """Synthetic weights: drawn, bound and folded (float64), then a dense float64 walk."""
    weights, largest = weight_elements(spec)
    parts = [(f"the weights (largest: '{largest}')" if largest else "the weights", weights * 8 * 3)]
    activations, _ = activation_parts(spec, 8, "dense")
    parts += activations
    return check(parts, "calibrating synthetic weights", budget_bytes, spec.path)


def check_analytic(spec, budget_bytes=None) -> int:
    """Analytic energy: expected counts only (no weights, no activations)."""
    return check([("the expected operation counts", counts_bytes(spec))], "this energy estimate", budget_bytes, spec.path)
