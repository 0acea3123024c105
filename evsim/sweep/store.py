"""A sweep's output folder: one Parquet file per finished chunk, and a manifest.

    DIR/manifest.json                    what the results are (plan, hashes) and each chunk's status
    DIR/chunks/<spec>/<start>-<stop>.parquet   one chunk's rows (see evsim.sweep.task.SCHEMA)

Every file is written to a temporary name and renamed over its place, so a sweep killed at
any moment leaves whole files only. A chunk file is the ground truth for "done": a chunk
whose file exists is never run again, even if the manifest had not been rewritten when the
sweep was killed. The manifest is rewritten at most every ``SAVE_INTERVAL_S`` while chunks
finish (so a sweep of many chunks does not spend its time rewriting it), and at the end.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from ..files import write_atomic
from .sweepfile import SweepError

FORMAT = "evsim-sweep-results/1"
SAVE_INTERVAL_S = 2.0
PENDING, DONE, FAILED = "pending", "done", "failed"
TIMING_KEYS = ("seconds", "cpu_seconds")   # a chunk's worker-side timing, kept across resumes


@dataclass(frozen=True)
class Chunk:
    """Inputs ``start … stop-1`` of the input set, run with spec ``spec``."""
    spec: str
    start: int
    stop: int
    width: int = 6      # digits of the input numbers in the file name

    @property
    def id(self) -> str:
        return f"{self.spec}/{self.start:0{self.width}d}-{self.stop:0{self.width}d}"

    @property
    def file(self) -> str:
        return f"chunks/{self.id}.parquet"


def _first_difference(old, new, where="") -> str:
    """Where two plans part, e.g. ``profiles: ['a'] vs ['a', 'b']``."""
    if isinstance(old, dict) and isinstance(new, dict):
        for key in list(old) + [k for k in new if k not in old]:
            if old.get(key) != new.get(key):
                return _first_difference(old.get(key), new.get(key), f"{where}.{key}" if where else key)
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        for i, (a, b) in enumerate(zip(old, new)):
            if a != b:
                return _first_difference(a, b, f"{where}[{i}]")
    return f"{where}: {old!r} then, {new!r} now"


class Store:
    """The output folder of one sweep (see the module docstring)."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.manifest_path = self.root / "manifest.json"
        self.manifest: dict | None = None
        self._saved_at = 0.0

    # --- reading -------------------------------------------------------------------------
    def load(self) -> dict:
        """The manifest as stored; a SweepError if the folder holds no sweep results."""
        try:
            self.manifest = json.loads(self.manifest_path.read_text())
        except FileNotFoundError:
            raise SweepError("no sweep results here (no manifest.json)", file=str(self.root),
                             fix="run the sweep first, or point --output at its results folder") from None
        except (OSError, ValueError) as err:
            raise SweepError(f"cannot read the manifest ({err})", file=str(self.manifest_path)) from None
        if self.manifest.get("format") != FORMAT:
            raise SweepError(f"not a results folder of this evsim (format {self.manifest.get('format')!r})",
                             file=str(self.manifest_path))
        return self.manifest

    def is_done(self, chunk: Chunk | dict) -> bool:
        file = chunk.file if isinstance(chunk, Chunk) else chunk["file"]
        return (self.root / file).is_file()

    def read_table(self):
        """Every finished chunk's rows, concatenated in plan order (the same table whatever
        order the chunks finished in, and however often the sweep was interrupted)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        from .task import SCHEMA
        manifest = self.manifest or self.load()
        tables = [pq.read_table(self.root / c["file"]) for c in manifest["chunks"] if self.is_done(c)]
        return pa.concat_tables(tables) if tables else SCHEMA.empty_table()

    # --- writing -------------------------------------------------------------------------
    def open(self, header: dict, plan: dict, chunks: list[Chunk]) -> list[Chunk]:
        """Create the folder's manifest, or check that the stored one was made for the same
        plan; return the chunks still to run. ``header`` is recorded, not compared (the
        sweep file's hash, paths, evsim's version); ``plan`` must match exactly."""
        if self.manifest_path.exists():
            stored = self.load()
            if stored["plan"] != plan:
                raise SweepError(f"these results were computed for a different sweep "
                                 f"({_first_difference(stored['plan'], plan)})", file=str(self.manifest_path),
                                 fix="use another --output, or delete the folder to start over")
            previous = {c["id"]: c for c in stored["chunks"]}
        else:
            previous = {}
        self._remove_temporary_files()
        records = []
        for chunk in chunks:
            record = {"id": chunk.id, "spec": chunk.spec, "start": chunk.start, "stop": chunk.stop,
                      "file": chunk.file, "status": PENDING, "error": None}
            if self.is_done(chunk):
                record.update(status=DONE, **{k: previous.get(chunk.id, {}).get(k) for k in TIMING_KEYS})
            records.append(record)
        self.manifest = {"format": FORMAT, **header, "plan": plan, "chunks": records}
        self._records = {r["id"]: r for r in records}
        self.save(force=True)
        return [c for c in chunks if self._records[c.id]["status"] != DONE]

    def chunk_done(self, chunk: Chunk, table, timing: dict | None = None) -> None:
        """Write a finished chunk's rows (atomically), then note it (and its timing, see
        evsim.sweep.task.run_chunk) in the manifest."""
        import pyarrow.parquet as pq
        write_atomic(self.root / chunk.file, lambda tmp: pq.write_table(table, tmp))
        self._records[chunk.id].update(status=DONE, error=None, **(timing or {}))
        self.save()

    def chunk_failed(self, chunk: Chunk, error: str) -> None:
        self._records[chunk.id].update(status=FAILED, error=error)
        self.save(force=True)

    def save(self, force: bool = False) -> None:
        """Rewrite the manifest atomically (at most every SAVE_INTERVAL_S unless forced)."""
        now = time.monotonic()
        if not force and now - self._saved_at < SAVE_INTERVAL_S:
            return
        self.manifest["updated"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        text = json.dumps(self.manifest, indent=1)
        write_atomic(self.manifest_path, lambda tmp: Path(tmp).write_text(text + "\n"))
        self._saved_at = now

    def _remove_temporary_files(self) -> None:
        """Temporary files a killed sweep left (write_atomic names them '.<name>.<random>.part')."""
        if not self.root.exists():
            return
        for path in [*self.root.glob(".manifest.json.*"), *self.root.glob("chunks/*/.*.parquet*")]:
            path.unlink(missing_ok=True)
