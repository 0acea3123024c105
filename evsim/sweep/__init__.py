"""Sweeps: many inputs × specs × conventions × profiles, run as chunks on Dask, resumable.

    sweep = read_sweep("sweeps/rates.yaml")        # checked, paths resolved
    outcome = run_sweep(sweep)                     # LocalCluster, or scheduler="tcp://host:8786"
    table = load_results(sweep.output)             # pyarrow.Table, one row per input × convention × profile

One module per job: ``sweepfile`` (reading the sweep YAML), ``inputs`` (input sets),
``fingerprint`` (content hashes), ``task`` (the chunk task that runs on a worker),
``cluster`` (the Dask client and the per-worker Numba warm-up), ``store`` (the output folder:
Parquet chunk files and the manifest), ``runner`` (planning, submitting, collecting),
``report`` (summary tables and the plot), ``cli`` (``evsim sweep``). Dask and pyarrow are
imported only by the modules that need them, so ``import evsim`` stays light.
"""
from .sweepfile import Sweep, SweepError, read_sweep


def run_sweep(sweep, **options):
    """Run (or resume) ``sweep``; see :func:`evsim.sweep.runner.run_sweep`."""
    from .runner import run_sweep as _run
    return _run(sweep, **options)


def load_results(output_dir):
    """The stored results of a sweep folder as one pyarrow Table, in plan order."""
    from .store import Store
    return Store(output_dir).read_table()


__all__ = ["Sweep", "SweepError", "read_sweep", "run_sweep", "load_results"]
