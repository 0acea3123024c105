"""The chunk task: what one Dask worker does with one chunk of inputs.

A :class:`ChunkJob` carries paths, hashes and seeds, never arrays. The worker loads the
network itself (cached per worker process), runs the chunk's inputs one at a time and
prices each run under every convention × profile. The result is a pyarrow Table with one row per
input × convention × profile, columns :data:`SCHEMA`:

    spec, input_index, input_id, convention, profile    what the row is about
    energy_pj                                           total energy of the inference, pJ
    ac_pj, mac_pj, neuron_pj, memory_pj                 its parts (energy.estimate's totals), pJ
    ac_ops, mac_ops                                     operations per inference (counts)
    firing_rates                                        [{layer, rate}] per spiking layer,
                                                        spikes per neuron per step (the
                                                        same list on each row of an input)
"""
from __future__ import annotations

import functools
import time
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from .sweepfile import SpecEntry, SweepError

RATE_TYPE = pa.list_(pa.struct([("layer", pa.string()), ("rate", pa.float64())]))
ENERGY_PARTS = (("ac_pj", "ac_pj"), ("mac_pj", "mac_pj"), ("neuron_pj", "neuron_pj"), ("memory_pj", "memory_pj"),
                ("ac_ops", "ac"), ("mac_ops", "mac"))   # column ← EnergyReport.total(key)
SCHEMA = pa.schema([("spec", pa.string()), ("input_index", pa.int64()), ("input_id", pa.string()),
                    ("convention", pa.string()), ("profile", pa.string()), ("energy_pj", pa.float64())]
                   + [(column, pa.float64()) for column, _ in ENERGY_PARTS] + [("firing_rates", RATE_TYPE)])


@dataclass(frozen=True)
class ChunkJob:
    """One chunk: a network (by path and hash), a part of the input set, and what to price."""
    chunk_id: str
    network: SpecEntry
    spec_sha256: str
    weights_sha256: str | None
    inputs: object               # a small InputSet part (see evsim.sweep.inputs)
    conventions: tuple
    profiles: tuple
    engine: str
    dtype: str


@functools.lru_cache(maxsize=2)
def load_network(entry: SpecEntry, spec_sha256: str, weights_sha256: str | None):
    """The network of a spec entry, loaded once per worker process (the two latest are kept),
    after checking that this worker sees the same files the sweep was planned with."""
    import evsim

    from .fingerprint import file_sha256
    from .fingerprint import spec_sha256 as spec_hash
    spec = evsim.load_spec(entry.spec)
    if spec_hash(spec) != spec_sha256:
        raise SweepError(f"spec '{entry.name}' differs from the one the sweep was planned with", file=entry.spec,
                         fix="workers must see the same files as the client (a shared folder); rerun after edits")
    if entry.weights:
        if file_sha256(entry.weights) != weights_sha256:
            raise SweepError(f"weights of '{entry.name}' differ from those the sweep was planned with",
                             file=entry.weights, fix="workers must see the same files as the client")
        return evsim.load(spec, entry.weights)
    return evsim.load(spec, evsim.synthetic_weights(spec, seed=entry.seed, target_rate=entry.synthetic_rate))


@functools.cache
def load_profile(name: str):
    import energy
    return energy.load_profile(name)


def price_run(run, conventions, profiles) -> list[dict]:
    """The energy columns of one run under every convention × profile (conventions outer)."""
    import energy
    rows = []
    for convention in conventions:
        for profile in profiles:
            report = energy.estimate(run, load_profile(profile), convention)
            row = {"convention": convention, "profile": profile, "energy_pj": report.total()}
            row.update({column: float(report.total(key)) for column, key in ENERGY_PARTS})
            rows.append(row)
    return rows


def run_chunk(job: ChunkJob) -> tuple[pa.Table, dict]:
    """Run the chunk's inputs (one run each) and price them; see the module docstring.
    Returns the rows and the chunk's timing on the worker, network loading included:
    ``seconds`` (wall) and ``cpu_seconds`` (the worker process, all its threads)."""
    started, cpu_started = time.perf_counter(), time.process_time()
    network = load_network(job.network, job.spec_sha256, job.weights_sha256)
    rows = []
    items = list(job.inputs.items())
    runs = network.run_many([x for _, _, x in items], engine=job.engine, dtype=np.dtype(job.dtype), progress=False)
    # one input at a time: throughput mode gives the same runs but measured slower on this engine (README)
    for (index, input_id, _), run in zip(items, runs):
        rates = [{"layer": layer, "rate": float(spikes.mean())} for layer, spikes in run.spikes.items()]
        for priced in price_run(run, job.conventions, job.profiles):
            rows.append({"spec": job.network.name, "input_index": index, "input_id": input_id, **priced,
                         "firing_rates": rates})
    timing = {"seconds": time.perf_counter() - started, "cpu_seconds": time.process_time() - cpu_started}
    return pa.Table.from_pylist(rows, schema=SCHEMA), timing
