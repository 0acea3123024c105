"""``evsim sweep``: run a sweep file on Dask (resumable), or re-render its stored results.

    evsim sweep SWEEP.yaml [--output DIR] [--scheduler tcp://HOST:PORT] [--workers N]
                           [--chunk-size K] [--plot IMAGE]
    evsim sweep [SWEEP.yaml | --output DIR] --report OUT [--plot IMAGE]

Only argparse is imported here; Dask and pyarrow load when the command runs.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

EPILOG = """A sweep file names specs (with weights, or synthetic_rate and seed), inputs (a .npy batch,
a folder of .npy files, or digits), conventions, profiles and the engine; see evsim/sweep/sweepfile.py.
Run the same command again after an interruption: finished chunks are kept and skipped."""


def _positive(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be ≥ 1, got {value}")
    return value


def add_sweep_parser(subparsers) -> None:
    """Register ``evsim sweep`` on the ``evsim`` command's subparsers."""
    p = subparsers.add_parser("sweep", help="many inputs × specs × conventions × profiles on Dask, resumable",
                              description="Run a sweep file on Dask (resumable), or summarise its stored results.",
                              epilog=EPILOG)
    p.add_argument("sweep_file", nargs="?", metavar="SWEEP.yaml", help="the sweep file")
    p.add_argument("--output", metavar="DIR", help="results folder (default: the sweep file's 'output:', else "
                                                   "<sweep stem>-results beside it)")
    p.add_argument("--scheduler", metavar="tcp://HOST:PORT", help="run on this existing Dask cluster")
    p.add_argument("--workers", type=_positive, metavar="N", help="local cluster size (default: one per core)")
    p.add_argument("--chunk-size", type=_positive, metavar="K", help="inputs per task (default: the sweep file's, else 8)")
    p.add_argument("--report", metavar="OUT", help="compute nothing: summarise the stored results into OUT "
                                                   "(.md, .csv, .json, else text; '-' for the terminal)")
    p.add_argument("--plot", metavar="IMAGE", help="also draw energy per inference per spec × convention × profile")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_sweep)


def cmd_sweep(args) -> None:
    from .report import write_report
    from .store import Store
    from .sweepfile import SweepError, read_sweep
    if args.report:
        if args.output:
            output = args.output
        elif args.sweep_file:
            output = read_sweep(args.sweep_file).output
        else:
            raise SweepError("--report reads stored results", fix="give the sweep file or --output DIR")
        text = write_report(Store(output), args.report, args.plot)
        print(text) if args.report == "-" else print(f"wrote {args.report}", file=sys.stderr)
        return
    if not args.sweep_file:
        raise SweepError("no sweep file given", fix="evsim sweep SWEEP.yaml (or --report OUT to summarise stored results)")
    sweep = read_sweep(args.sweep_file)
    changes = {k: v for k, v in (("output", args.output and str(Path(args.output).resolve())),
                                 ("chunk_size", args.chunk_size)) if v}
    sweep = dataclasses.replace(sweep, **changes)
    from .runner import run_sweep
    try:
        outcome = run_sweep(sweep, scheduler=args.scheduler, workers=args.workers, progress=not args.no_progress)
    except KeyboardInterrupt:
        raise SweepError("interrupted; the finished chunks are kept", file=sweep.output,
                         fix="run the same command again to resume") from None
    print(write_report(Store(sweep.output), None, args.plot))
    if args.plot:
        print(f"wrote {args.plot}", file=sys.stderr)
    if outcome.failed:
        raise SweepError(f"{len(outcome.failed)} of {outcome.total} chunks failed (listed above; their inputs are "
                         f"missing from the summary)", file=sweep.output,
                         fix="fix their inputs and run the same command again: only unfinished chunks run")
