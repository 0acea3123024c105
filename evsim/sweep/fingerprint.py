"""Content hashes that say whether stored results still belong to the files they came from.

The manifest of a sweep records them; a worker recomputes the spec and weights hashes once
when it loads a network, so a worker that sees different files (another machine, an edited
file) fails its chunk instead of mixing results.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

_BLOCK = 1 << 20


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes, hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def spec_sha256(spec) -> str:
    """SHA-256 over a loaded spec's file and, for a spec that ``extends`` another, the file
    its layers were written in (so an edit to a shared base file changes the hash)."""
    files = [spec.path]
    layers_path = getattr(spec, "layers_path", "")
    if layers_path and Path(layers_path).resolve() != Path(spec.path).resolve():
        files.append(layers_path)
    return hashlib.sha256("".join(file_sha256(f) for f in files).encode()).hexdigest()


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
