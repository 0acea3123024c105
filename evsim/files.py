"""Writing files so that a crash never leaves half of one (see :mod:`evsim.outputs`, which
new code should use: its writers get an open file, so the name is kept whatever the library)."""
from __future__ import annotations

from pathlib import Path

from .outputs import write_output


def write_atomic(path: str | Path, write, fmt: str = "text") -> None:
    """Call ``write(tmp_path)`` then rename the temporary file over ``path``: a crash never
    leaves half a file; a writer that writes another name (``np.save`` appends ``.npy``) is
    an error instead of an empty destination."""
    write_output(path, write, fmt, by_path=True)
