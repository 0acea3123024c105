"""Input sets of a sweep: numbered inputs that a worker can load by itself.

An input set is small and picklable: the client plans with ``len``, ``part``, ``fingerprint``
and ``shape_problem``; each chunk carries ``part(start, stop)`` (a path and a range, or a few
file names — never arrays) and the worker calls ``items()`` on it.

- ``NpyBatch``: one ``.npy`` file holding a batch ``[B, ...]`` (read memory-mapped).
- ``NpyFolder``: a folder of ``.npy`` files, one input each, in file-name order; a file
  that cannot be read fails its chunk, not the sweep.
- ``digits``: the hook for the built-in digits set (see :func:`digits_input_set`).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..errors import InputError
from .fingerprint import file_sha256


def _read_npy(path: Path, mmap=False):
    try:
        return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (OSError, ValueError, EOFError) as err:
        raise InputError(f"cannot read input ({err})", file=str(path), fix="save it with numpy.save") from None


@dataclass(frozen=True)
class NpyBatch:
    """Inputs ``start … stop-1`` of a ``.npy`` batch ``[B, ...]``; ids read ``name.npy[i]``."""
    path: str
    shape: tuple          # the whole file's array shape
    start: int = 0
    stop: int = 0

    def __len__(self):
        return self.stop - self.start

    def part(self, start: int, stop: int) -> NpyBatch:
        return replace(self, start=self.start + start, stop=self.start + stop)

    def items(self):
        """(index, id, array) for each input, read on the worker."""
        batch = _read_npy(Path(self.path), mmap=True)
        name = Path(self.path).name
        for i in range(self.start, self.stop):
            yield i, f"{name}[{i}]", np.array(batch[i])

    def fingerprint(self) -> str:
        return file_sha256(self.path)

    def shape_problem(self, expected: tuple) -> str | None:
        if tuple(self.shape) == tuple(expected):
            return (f"{Path(self.path).name} holds one input {list(self.shape)}; a sweep reads a batch "
                    f"[B, {', '.join(map(str, expected))}] (save x[None] for one input)")
        if tuple(self.shape[1:]) != tuple(expected):
            return f"{Path(self.path).name} holds {list(self.shape)}; expected a batch [B, {', '.join(map(str, expected))}]"
        return None


@dataclass(frozen=True)
class NpyFolder:
    """Files ``names`` of a folder of ``.npy`` inputs (one input per file); ``offset`` is the
    index of ``names[0]`` in the whole folder. Ids are the file names."""
    path: str
    names: tuple
    offset: int = 0

    def __len__(self):
        return len(self.names)

    def part(self, start: int, stop: int) -> NpyFolder:
        return NpyFolder(self.path, self.names[start:stop], self.offset + start)

    def items(self):
        for k, name in enumerate(self.names):
            yield self.offset + k, name, _read_npy(Path(self.path) / name)

    def fingerprint(self) -> str:
        digest = hashlib.sha256()
        for name in self.names:
            digest.update(f"{name}\0{file_sha256(Path(self.path) / name)}\n".encode())
        return digest.hexdigest()

    def shape_problem(self, expected: tuple) -> str | None:
        return None   # each file is checked by the engine when its chunk runs


def digit_images():
    """The digits test images the shipped trained model is scored on ([450, 1, 32, 32])."""
    from .. import datasets
    return datasets.digits("test")[0]


def digits_input_set(fail, line):
    """The built-in ``digits`` input set: the digits test images (``evsim.datasets``), the
    inputs of the shipped spikformer-digits model."""
    try:
        from .. import datasets
    except ImportError:
        fail("the 'digits' input set needs evsim.datasets, which this version of evsim does not have", line,
             "give a .npy batch or a folder of .npy files")
    if not hasattr(datasets, "digits"):
        fail("evsim.datasets has no digits() to read the 'digits' input set from", line)
    return DigitsInputs(0, len(digit_images()))


@dataclass(frozen=True)
class DigitsInputs:
    """Inputs ``start … stop-1`` of ``evsim.digit_images()`` (see :func:`digits_input_set`)."""
    start: int
    stop: int

    def __len__(self):
        return self.stop - self.start

    def part(self, start: int, stop: int) -> DigitsInputs:
        return DigitsInputs(self.start + start, self.start + stop)

    def items(self):
        data = digit_images()
        for i in range(self.start, self.stop):
            yield i, f"digits[{i}]", np.asarray(data[i])

    def fingerprint(self) -> str:
        return hashlib.sha256(np.ascontiguousarray(digit_images()).tobytes()).hexdigest()

    def shape_problem(self, expected: tuple) -> str | None:
        shape = np.shape(digit_images())[1:]
        return None if tuple(shape) == tuple(expected) else f"digits are {list(shape)}; the spec takes {list(expected)}"


def input_set(value, base: Path, fail, line):
    """The input set a sweep file's ``inputs:`` names: ``digits``, a ``.npy`` batch, or a
    folder of ``.npy`` files (paths relative to ``base``). ``fail(message, line, fix)`` raises."""
    if value == "digits":
        return digits_input_set(fail, line)
    if not isinstance(value, str) or not value:
        fail("'inputs' must be a .npy file, a folder of .npy files, or digits", line)
    path = (base / value).resolve()
    if path.is_dir():
        names = tuple(sorted(p.name for p in path.glob("*.npy")))
        if not names:
            fail(f"folder '{value}' holds no .npy files", line, "one input per .npy file")
        return NpyFolder(str(path), names)
    if path.suffix != ".npy" or not path.is_file():
        fail(f"no such .npy file or folder '{value}' (looked for {path})", line, "paths are relative to the sweep file")
    try:
        shape = _read_npy(path, mmap=True).shape
    except InputError as err:
        fail(err.bare_message, line, err.fix)
    if len(shape) < 2:
        fail(f"'{value}' holds an array of shape {list(shape)}, not a batch of inputs", line)
    return NpyBatch(str(path), tuple(shape), 0, shape[0])
