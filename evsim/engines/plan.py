"""A prepared plan: one network's weights made ready for one engine and dtype.

The plan holds, per layer, what its kind's ``prepare`` made (cast or transposed weights,
neuron parameters) and the layer's :class:`~evsim.spec.layer.LayerFacts`. It is built once
per (network, engine, dtype) and cached by the network; the weights container itself holds
no engine state.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np

from ..errors import MemoryBudgetError
from ..spec import Spec


@dataclass
class Plan:
    spec: Spec
    engine: str
    dtype: np.dtype
    params: dict     # {layer: folded parameters (float64)}, what the brute-force counts read
    fused: dict      # {normalisation: producer}: layers folded away
    layers: dict     # {layer: what its kind prepared}
    facts: dict      # {layer: LayerFacts}
    weights: dict    # {layer: number of weights it holds after folding}


def make_plan(spec: Spec, params: dict, engine: str, dtype) -> Plan:
    dtype = np.dtype(dtype)
    fused = spec.fused
    facts = {name: spec.facts(name) for name in spec.layers if name not in fused}
    layers = {name: spec.layers[name].prepare(params.get(name, {}), dtype, facts[name], engine) for name in facts}
    weights = {name: int(sum(np.size(v) for v in params.get(name, {}).values())) for name in facts}
    return Plan(spec, engine, dtype, params, fused, layers, facts, weights)


def physical_memory_bytes() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 8 << 30


def memory_estimate(spec: Spec, dtype) -> int:
    """Bytes a run holds at most: every layer's output over its steps (layer-major, spikes
    recorded), and the weights twice (file form and prepared)."""
    itemsize = np.dtype(dtype).itemsize
    activations = sum(math.prod(spec.shapes[n]) * spec.steps(n) for n in spec.layers)
    weights = sum(math.prod(shape) for shapes in spec.parameter_shapes().values() for shape in shapes.values())
    return (activations + 2 * weights) * itemsize


def check_memory(spec: Spec, dtype, budget_bytes=None) -> None:
    budget = budget_bytes or int(0.8 * physical_memory_bytes())
    need = memory_estimate(spec, dtype)
    if need > budget:
        raise MemoryBudgetError(f"this run needs about {need / 2**30:.1f} GiB, over the budget of {budget / 2**30:.1f} GiB",
                                file=spec.path, fix="use a smaller input size or T, or raise memory_budget_bytes")
