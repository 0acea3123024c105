"""A prepared plan: one network's weights made ready for one engine and dtype.

The plan holds, per layer, what its kind's ``prepare`` made (cast or transposed weights,
neuron parameters) and the layer's :class:`~evsim.spec.layer.LayerFacts`. It is built once
per (network, engine, dtype) and cached by the network; the weights container itself holds
no engine state.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

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


def check_memory(spec: Spec, dtype, budget_bytes=None, engine: str = "event", batch: int = 1) -> None:
    """The memory guard (:mod:`evsim.resources`) for running this spec: refuses before allocating."""
    from ..resources import check_run
    check_run(spec, dtype, engine, batch, budget_bytes)
