"""Checks of the values a user hands evsim, one function per kind of value, shared by the
CLI and the Python API: each returns the value in canonical form or raises an
:class:`~evsim.errors.EvsimError` that names what is wrong and what to give instead.
"""
from __future__ import annotations

import math
import numbers
import os
from pathlib import Path

import numpy as np

from .errors import EvsimError, InputError, ProfileError
from .stats import Rate

MAX_SEED = 2**63 - 1


def _is_real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def number(value, name: str, *, low=None, high=None, low_open=False, high_open=False, error=EvsimError, **where) -> float:
    """A finite real number, optionally within [low, high] (open ends on request)."""
    if not _is_real(value) or not math.isfinite(float(value)):
        raise error(f"'{name}' must be a finite number, got {value!r}", **where)
    value = float(value)
    too_low = low is not None and (value <= low if low_open else value < low)
    too_high = high is not None and (value >= high if high_open else value > high)
    if too_low or too_high:
        left, right = ("(" if low_open else "[") + f"{low if low is not None else '−∞'}", \
            f"{high if high is not None else '∞'}" + (")" if high_open else "]")
        raise error(f"'{name}' must be in {left}, {right}, got {value!r}", **where)
    return value


def integer(value, name: str, *, low=None, high=None, error=EvsimError, **where) -> int:
    """An int (not a bool, not a float) within [low, high]."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise error(f"'{name}' must be an integer, got {value!r}", **where)
    value = int(value)
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = f"between {low} and {high}" if low is not None and high is not None else \
            (f"at least {low}" if low is not None else f"at most {high}")
        raise error(f"'{name}' must be {bounds}, got {value}", **where)
    return value


def seed(value) -> int:
    """A random seed: an int in [0, 2⁶³)."""
    return integer(value, "seed", low=0, high=MAX_SEED, fix="use a non-negative integer, e.g. 0")


def fraction(value, name: str) -> float:
    """A firing rate strictly between 0 and 1 (synthetic calibration targets)."""
    return number(value, name, low=0, high=1, low_open=True, high_open=True, fix="e.g. 0.15 spikes per neuron per step")


def choice(value, options, name: str) -> str:
    """One of ``options`` (strings)."""
    if not isinstance(value, str) or value not in options:
        raise EvsimError(f"unknown {name} {value!r}", fix=f"choose one of {', '.join(options)}")
    return value


def path(value, what: str) -> str:
    """A file path given as str or os.PathLike."""
    if isinstance(value, (str, os.PathLike)) and str(value).strip() and "\0" not in str(value):
        return str(value)
    raise EvsimError(f"the {what} must be a path (str or pathlib.Path), got {type(value).__name__} {value!r:.60}")


def dtype(value) -> np.dtype:
    """float64 or float32."""
    try:
        result = np.dtype(value)
    except (TypeError, ValueError):
        raise EvsimError(f"dtype {value!r:.60} is not a NumPy dtype", fix="use float64 or float32") from None
    if result not in (np.float32, np.float64):
        raise EvsimError(f"dtype {result} is not supported", fix="use float64 or float32")
    return result


def rate(key, value, source=None, line=None) -> Rate:
    """A declared firing rate: a number in [0, 1] (events = spikes), or {events: e in [0, 1],
    spikes: s ≥ e, detail…: x ≥ 0} (a residual sum of spike trains can carry more spikes than
    events; further keys are the layer kind's measured detail, checked against the kind later)."""
    if isinstance(value, Rate):
        value = {"events": value.events, "spikes": value.spikes, **(value.detail or {})}
    if _is_real(value) and 0 <= value <= 1:
        return Rate(float(value), float(value))
    if isinstance(value, dict) and "events" in value:
        events, spikes = value["events"], value.get("spikes", value["events"])
        detail = {k: v for k, v in value.items() if k not in ("events", "spikes")}
        if (_is_real(events) and 0 <= events <= 1 and _is_real(spikes) and math.isfinite(spikes) and spikes >= events
                and all(isinstance(k, str) and _is_real(v) and math.isfinite(v) and v >= 0 for k, v in detail.items())):
            return Rate(float(events), float(spikes), {k: float(v) for k, v in detail.items()} or None)
    raise ProfileError(f"rate of '{key}' must be a number in [0, 1] spikes per element per step, or "
                       f"{{events: e, spikes: s}} with 0 ≤ e ≤ 1 and s ≥ e (plus the layer kind's measured detail, "
                       f"numbers ≥ 0); got {value!r:.80}", file=source, line=line)


def energy_pj(value, name: str, **where) -> float:
    """An energy or count in a profile: finite and ≥ 0."""
    return number(value, name, low=0, error=ProfileError, **where)


def read_array(file) -> np.ndarray:
    """One array from a .npy file (no pickles, no archives)."""
    file = path(file, "input file")
    try:
        x = np.load(file, allow_pickle=False)
    except (OSError, ValueError, EOFError) as err:
        reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err) or type(err).__name__
        raise InputError(f"cannot read input ({reason})", file=file, fix="save it with numpy.save") from None
    if not isinstance(x, np.ndarray):
        x.close()
        raise InputError("holds an archive of arrays, not one array", file=file, fix="save the input with numpy.save (.npy)")
    return x


def input_array(x, spec, dtype=np.float64) -> np.ndarray:
    """A network input checked against the spec: numeric, the encoding's shape, finite, and
    for event frames the spec's value kind (binary: 0/1; integer: whole numbers ≥ 0, so that
    no count or energy can come out negative). Returns it cast to ``dtype``."""
    inp = spec.input
    source = spec.path
    if isinstance(x, (str, os.PathLike)):
        raise InputError("the input is a path; pass the array (numpy.load it first)", file=source)
    try:
        x = np.asarray(x)
    except Exception:
        raise InputError("the input is not an array", file=source) from None
    if x.dtype.kind not in "biuf":
        raise InputError(f"input dtype {x.dtype} is not numeric", file=source, fix="pass a float or integer array")
    want = tuple(inp.shape) if inp.encoding == "direct" else (inp.T, *inp.shape)
    if x.shape != want:
        raise InputError(f"input has shape {list(x.shape)}, the spec's {inp.encoding} encoding expects {list(want)}",
                         file=source, fix="reshape the input or fix 'input' in the spec")
    if x.dtype.kind == "f" and not np.all(np.isfinite(x)):
        raise InputError("input holds NaN or infinite values", file=source)
    with np.errstate(over="ignore"):
        cast = x.astype(dtype)
    if not np.all(np.isfinite(cast)):
        raise InputError(f"input values overflow {np.dtype(dtype)}", file=source, fix="scale the input")
    if inp.encoding == "frames" and inp.values != "analog":
        if np.any(x < 0):
            raise InputError(f"event frames hold negative values (min {x.min()}); spike counts are ≥ 0", file=source,
                             fix="pass spike counts, or declare 'values: analog' in the spec's input")
        if inp.values == "binary" and np.any((x != 0) & (x != 1)):
            raise InputError("binary event frames hold values other than 0 and 1", file=source,
                             fix="declare 'values: integer' for multi-spike frames")
        if x.dtype.kind == "f" and np.any(x != np.round(x)):
            raise InputError("integer event frames hold fractional values", file=source,
                             fix="pass whole spike counts, or declare 'values: analog'")
    return cast


def existing_file(value, what: str, error=EvsimError) -> Path:
    """A path that exists and is a regular file."""
    file = Path(path(value, what))
    if not file.exists():
        raise error(f"no such {what}", file=str(file), fix="check the path")
    if not file.is_file():
        raise error(f"the {what} is not a regular file", file=str(file))
    return file
