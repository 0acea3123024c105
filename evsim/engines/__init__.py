"""How a network runs: interchangeable engines over one spec and one weight set."""
from __future__ import annotations

from ..errors import EvsimError
from .plan import Plan, check_memory, make_plan
from .run import Run, encode

ENGINES = {"dense": "evsim.engines.dense", "event": "evsim.engines.event"}
ENGINE_NAMES = tuple(ENGINES)


def get_engine(name: str):
    """The ``run(plan, x)`` function of an engine, imported on first use."""
    import importlib
    if name not in ENGINES:
        raise EvsimError(f"unknown engine '{name}'", fix=f"choose one of {', '.join(ENGINES)}")
    return importlib.import_module(ENGINES[name]).run


def get_batch_engine(name: str):
    """The ``run_batch(plan, xs)`` function of an engine (one Run per input; the event engine's
    throughput mode runs them together)."""
    import importlib
    get_engine(name)
    return importlib.import_module(ENGINES[name]).run_batch


__all__ = ["Run", "Plan", "encode", "get_engine", "get_batch_engine", "make_plan", "check_memory", "ENGINES", "ENGINE_NAMES"]
