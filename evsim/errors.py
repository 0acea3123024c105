"""Errors that tell the user where the problem is and what to do about it.

Every error evsim raises for bad input is an :class:`EvsimError` whose message reads
``file:line: layer 'name': what is wrong. what to do`` — never a traceback from deep
inside NumPy.
"""
from __future__ import annotations


class EvsimError(Exception):
    """Base class: a problem with the user's input, located and explained."""

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None,
                 layer: str | None = None, fix: str | None = None):
        self.file, self.line, self.layer, self.fix = file, line, layer, fix
        self.bare_message = message
        super().__init__(self._format())

    def _format(self) -> str:
        where = ""
        if self.file:
            where = f"{self.file}:{self.line}: " if self.line else f"{self.file}: "
        who = f"layer '{self.layer}': " if self.layer else ""
        text = f"{where}{who}{self.bare_message}"
        if self.fix:
            text += f" — {self.fix}"
        return " ".join(text.split("\n"))  # one line, whatever a library's message held


class SpecError(EvsimError):
    """The YAML network description is malformed or inconsistent."""


class WeightsError(EvsimError):
    """A weights file does not fit the spec (missing, extra, shape, dtype, NaN)."""


class InputError(EvsimError):
    """The network input has the wrong shape, dtype or values."""


class MemoryBudgetError(EvsimError):
    """A run would need more memory than the budget allows."""


class ProfileError(EvsimError):
    """A hardware profile, rates file or claims file is malformed."""
