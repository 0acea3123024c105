"""The Dask client a sweep runs on, and the per-worker Numba warm-up.

Without a scheduler address, a ``LocalCluster`` of worker processes sized to this machine:
one single-threaded Dask worker per core, each giving Numba ``cores // workers`` threads (so
workers × Numba threads never exceeds the cores). With an address, the existing cluster as
it is. Either way a worker plugin runs a tiny network on every worker as it joins, so the
event engine's kernels are compiled (or read from Numba's on-disk cache) once per worker
process, before its first chunk.
"""
from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
import os
from pathlib import Path

from distributed import Client, LocalCluster, WorkerPlugin

from .sweepfile import SweepError

WARMUP_SPEC = Path(__file__).with_name("warmup.yaml")


def machine_cores() -> int:
    """Cores this process may use (the affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def warm_numba(dtype: str) -> None:
    """Run the warm-up network once with the event engine in ``dtype``."""
    import numpy as np

    import evsim
    spec = evsim.load_spec(WARMUP_SPEC)
    network = evsim.load(spec, evsim.synthetic_weights(spec, seed=0, target_rate=0.3))
    network.run(evsim.sample_input(spec, 0), engine="event", dtype=np.dtype(dtype))


class NumbaWarmup(WorkerPlugin):
    """Worker plugin: :func:`warm_numba` once per worker process, off the event loop."""
    name = "evsim-numba-warmup"

    def __init__(self, dtype: str = "float64"):
        self.dtype = dtype

    async def setup(self, worker):
        await asyncio.get_running_loop().run_in_executor(None, warm_numba, self.dtype)


def _has_bokeh() -> bool:
    """Whether this machine can serve the Dask dashboard (its pages need bokeh)."""
    return importlib.util.find_spec("bokeh") is not None


@contextlib.contextmanager
def dask_client(scheduler: str | None = None, workers: int | None = None, dtype: str = "float64"):
    """A connected ``distributed.Client`` with the warm-up plugin registered; closes what it
    started. ``workers`` sizes a local cluster (default: one per core)."""
    cluster = None
    if scheduler:
        if workers:
            raise SweepError("--workers sizes a local cluster; an existing cluster (--scheduler) is sized where it runs")
        try:
            client = Client(scheduler, timeout="20s")
        except OSError as err:
            raise SweepError(f"cannot reach the Dask scheduler at {scheduler} ({err})",
                             fix="start it (dask scheduler) or drop --scheduler to use a local cluster") from None
    else:
        cores = machine_cores()
        workers = workers or cores
        numba_threads = str(max(1, cores // workers))
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               dashboard_address=":8787" if _has_bokeh() else None, silence_logs=logging.CRITICAL,
                               env={"NUMBA_NUM_THREADS": numba_threads, "OMP_NUM_THREADS": "1",
                                    "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"})
        client = Client(cluster)
    try:
        try:
            client.register_plugin(NumbaWarmup(dtype))
        except Exception as err:   # e.g. a remote worker without evsim installed
            raise SweepError(f"the warm-up run failed on a Dask worker ({type(err).__name__}: {err})".replace("\n", " "),
                             fix="every worker needs this evsim installed and the sweep's files") from None
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def dashboard_link(client, local: bool) -> str | None:
    """The Dask dashboard's address: always for an existing cluster (its scheduler decides
    what it serves), for a local one only when bokeh is installed."""
    if "dashboard" not in client.scheduler_info().get("services", {}) or (local and not _has_bokeh()):
        return None
    return client.dashboard_link
