"""Running a sweep: plan the chunks, skip the finished ones, run the rest on Dask, store
each result as it arrives.

A chunk is one spec × ``chunk_size`` consecutive inputs and one Dask task. Chunks are
submitted in plan order (earlier ones first); a failing chunk is retried ``retries`` times
by Dask, then recorded as failed with its error while the others go on.
"""
from __future__ import annotations

import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from .fingerprint import file_sha256, spec_sha256
from .store import Chunk, Store
from .task import ChunkJob, load_profile, run_chunk


@dataclass
class Outcome:
    """What a run of a sweep did: chunk counts and the failures with their errors."""
    total: int
    skipped: int                 # already finished by an earlier run
    done: int = 0                # finished by this run
    failed: list = field(default_factory=list)   # [(chunk id, error line)]


def plan(sweep):
    """(header, plan, chunks, jobs): what the manifest records, what must match for a resume,
    the chunks in plan order, and each chunk's job by chunk id."""
    import evsim
    networks = []
    jobs = {}
    chunks = []
    count = len(sweep.inputs)
    width = max(6, len(str(count)))
    for entry in sweep.specs:
        spec_hash = spec_sha256(evsim.load_spec(entry.spec))
        weights_hash = file_sha256(entry.weights) if entry.weights else None
        networks.append({"name": entry.name, "spec_sha256": spec_hash, "weights_sha256": weights_hash,
                         "synthetic_rate": entry.synthetic_rate, "seed": entry.seed if not entry.weights else None})
        for start in range(0, count, sweep.chunk_size):
            chunk = Chunk(entry.name, start, min(start + sweep.chunk_size, count), width)
            chunks.append(chunk)
            jobs[chunk.id] = ChunkJob(chunk.id, entry, spec_hash, weights_hash, sweep.inputs.part(chunk.start, chunk.stop),
                                      sweep.conventions, sweep.profiles, sweep.engine, sweep.dtype)
    plan = {"specs": networks, "inputs": {"count": count, "sha256": sweep.inputs.fingerprint()},
            "conventions": list(sweep.conventions), "profiles": list(sweep.profiles),
            "profile_sha256": [file_sha256(load_profile(p).path) for p in sweep.profiles],
            "engine": sweep.engine, "dtype": sweep.dtype, "chunk_size": sweep.chunk_size}
    header = {"sweep_file": str(Path(sweep.path).resolve()), "sweep_sha256": sweep.sha256, "evsim_version": evsim.__version__,
              "sources": {"specs": [{"name": e.name, "spec": e.spec, "weights": e.weights} for e in sweep.specs],
                          "inputs": repr(sweep.inputs.part(0, 0))}}
    return header, plan, chunks, jobs


def _error_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".replace("\n", " ")


def run_sweep(sweep, *, scheduler: str | None = None, workers: int | None = None, progress: bool = True,
              log=None) -> Outcome:
    """Run (or resume) ``sweep``: the chunks whose files are missing from ``sweep.output``.
    ``scheduler``: an existing Dask cluster's address (default: ``sweep.scheduler``, else a
    LocalCluster of ``workers`` processes). ``log(line)`` gets the status lines (default:
    stderr)."""
    from distributed import as_completed
    from tqdm import tqdm

    from .cluster import dashboard_link, dask_client
    log = log or (lambda line: print(line, file=sys.stderr))
    header, plan_, chunks, jobs = plan(sweep)
    store = Store(sweep.output)
    pending = store.open(header, plan_, chunks)
    outcome = Outcome(total=len(chunks), skipped=len(chunks) - len(pending))
    log(f"sweep {sweep.path}: {len(sweep.specs)} spec(s) × {len(sweep.inputs)} inputs in {len(chunks)} chunks of "
        f"≤ {sweep.chunk_size}; {len(sweep.conventions)} convention(s) × {len(sweep.profiles)} profile(s); "
        f"{outcome.skipped} chunk(s) already done; results in {sweep.output}")
    if not pending:
        return outcome
    scheduler = scheduler or sweep.scheduler
    with dask_client(scheduler, workers, sweep.dtype) as client:
        link = dashboard_link(client, local=not scheduler)
        log(f"Dask: {len(client.scheduler_info()['workers'])} worker(s)" + (f", dashboard {link}" if link else ""))
        run_id = uuid.uuid4().hex[:8]   # a fresh key per run: nothing of a killed run is reused
        futures = {client.submit(run_chunk, jobs[chunk.id], key=f"evsim-sweep-{run_id}-{chunk.id}",
                                 retries=sweep.retries, pure=False, priority=len(pending) - i): chunk
                   for i, chunk in enumerate(pending)}
        bar = tqdm(total=len(chunks), initial=outcome.skipped, unit="chunk", desc="sweep", file=sys.stderr,
                   disable=not progress)
        try:
            for future in as_completed(futures):
                chunk = futures.pop(future)
                if future.status == "error":
                    outcome.failed.append((chunk.id, _error_line(future.exception())))
                    store.chunk_failed(chunk, outcome.failed[-1][1])
                    bar.set_postfix(failed=len(outcome.failed))
                else:
                    store.chunk_done(chunk, *future.result())
                    outcome.done += 1
                future.release()
                bar.update(1)
        finally:
            bar.close()
            store.save(force=True)
    return outcome
