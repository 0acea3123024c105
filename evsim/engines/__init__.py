"""How a network runs: interchangeable engines over one spec and one weight set."""
from __future__ import annotations

from .run import Run, encode

ENGINE_NAMES = ("dense", "event")


def get_engine(name: str):
    """The ``run(network, x, dtype)`` function of an engine, imported on first use."""
    if name == "dense":
        from . import dense
        return dense.run
    if name == "event":
        from .event import engine
        return engine.run
    raise ValueError(f"unknown engine '{name}': choose one of {', '.join(ENGINE_NAMES)}")


__all__ = ["Run", "encode", "get_engine", "ENGINE_NAMES"]
