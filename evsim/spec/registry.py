"""The registry of layer kinds: YAML ``kind:`` → the class that knows everything about it.

The spec finds kinds here and imports nothing above the ground floor: the built-in kinds
(``evsim.kinds``) are imported by name the first time the registry is read. A kind that
lacks a facet (its dense step, event step, brute-force count or expected counts) is refused
when it registers, never discovered half-way through a run.
"""
from __future__ import annotations

import importlib
import inspect

from ..errors import EvsimError

LAYER_KINDS: dict[str, type] = {}
BUILTIN_KINDS = "evsim.kinds"


def register(cls):
    """Class decorator: make ``cls`` the layer kind named ``cls.kind``."""
    if not getattr(cls, "kind", ""):
        raise EvsimError(f"layer kind class {cls.__name__} has no 'kind' name", fix="set kind: ClassVar[str] = '<name>'")
    if inspect.isabstract(cls):
        missing = ", ".join(sorted(cls.__abstractmethods__))
        raise EvsimError(f"layer kind '{cls.kind}' ({cls.__module__}.{cls.__name__}) lacks the facet(s) {missing}",
                         fix="a kind implements every facet of evsim.kinds.base.Kind (see CONTRIBUTING.md)")
    LAYER_KINDS[cls.kind] = cls
    return cls


def kinds() -> dict[str, type]:
    """Every registered kind (the built-in ones imported on first use)."""
    importlib.import_module(BUILTIN_KINDS)
    return LAYER_KINDS


def unregister(kind: str) -> None:
    """Remove a kind (tests that register their own use this to clean up)."""
    LAYER_KINDS.pop(kind, None)
