"""evsim sweep: per-input figures equal energy.estimate on direct runs; a killed sweep
resumes to the identical table; a failing chunk is retried, reported, and the rest completes;
bad sweep files are one-line located errors; --report re-renders without computing.

One small LocalCluster (2 single-threaded worker processes) serves the module; the killed
sweep runs the CLI in its own process group with its own one-worker cluster."""
import dataclasses
import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import energy
import evsim
from evsim.cli import main
from evsim.sweep import SweepError, load_results, read_sweep, run_sweep
from evsim.sweep.report import summarize
from evsim.sweep.store import Store

from conftest import SPECS

SPEC = SPECS / "every_kind.yaml"
CONVENTIONS = ["paper", "exact"]
PROFILES = ["horowitz45-fp32", "lemaire-memory-fp32"]


@pytest.fixture(scope="module")
def scheduler():
    from distributed import LocalCluster
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                           silence_logs=logging.ERROR, env={"NUMBA_NUM_THREADS": "1"})
    yield cluster.scheduler_address
    cluster.close()


def write_sweep(folder, inputs, chunk_size, specs, retries=2, name="sweep.yaml"):
    entries = "\n".join(f"  - {{{', '.join(f'{k}: {v}' for k, v in entry.items())}}}" for entry in specs)
    path = folder / name
    path.write_text(f"specs:\n{entries}\ninputs: {inputs}\nconventions: [{', '.join(CONVENTIONS)}]\n"
                    f"profiles: [{', '.join(PROFILES)}]\nengine: event\nchunk_size: {chunk_size}\nretries: {retries}\n")
    return path


def inputs_batch(folder, n, name="inputs.npy"):
    spec = evsim.load_spec(SPEC)
    batch = np.stack([evsim.sample_input(spec, 100 + i) for i in range(n)])
    np.save(folder / name, batch)
    return batch


@pytest.fixture(scope="module")
def small_sweep(tmp_path_factory, scheduler):
    """Two networks (synthetic weights; a weights file) × 7 inputs in chunks of 3, run once."""
    folder = tmp_path_factory.mktemp("sweep")
    batch = inputs_batch(folder, 7)
    spec = evsim.load_spec(SPEC)
    networks = {"synthetic": evsim.load(spec, evsim.synthetic_weights(spec, seed=1, target_rate=0.2)),
                "from_file": evsim.load(spec, evsim.synthetic_weights(spec, seed=2, target_rate=0.1))}
    networks["from_file"].save_weights(folder / "w.npz")
    path = write_sweep(folder, "inputs.npy", 3, [
        {"spec": SPEC, "synthetic_rate": 0.2, "seed": 1, "name": "synthetic"},
        {"spec": SPEC, "weights": "w.npz", "name": "from_file"}])
    sweep = read_sweep(path)
    outcome = run_sweep(sweep, scheduler=scheduler, progress=False)
    return sweep, outcome, batch, networks


def test_sweep_gives_the_figures_of_energy_estimate_per_input(small_sweep):
    sweep, outcome, batch, networks = small_sweep
    assert (outcome.total, outcome.skipped, outcome.done, outcome.failed) == (6, 0, 6, [])
    rows = load_results(sweep.output).to_pylist()
    assert len(rows) == 2 * len(batch) * len(CONVENTIONS) * len(PROFILES)
    by_key = {(r["spec"], r["input_index"], r["convention"], r["profile"]): r for r in rows}
    assert len(by_key) == len(rows)
    for name, network in networks.items():
        for i, x in enumerate(batch):
            run = network.run(x, engine="event")
            rates = [{"layer": layer, "rate": float(s.mean())} for layer, s in run.spikes.items()]
            for convention in CONVENTIONS:
                for profile in PROFILES:
                    report = energy.estimate(run, profile, convention)
                    row = by_key[(name, i, convention, profile)]
                    assert row["input_id"] == f"inputs.npy[{i}]"
                    assert row["energy_pj"] == report.total()
                    assert (row["ac_ops"], row["mac_ops"], row["memory_pj"]) == (
                        report.total("ac"), report.total("mac"), report.total("memory_pj"))
                    assert row["firing_rates"] == rates


def test_report_rerenders_the_stored_results(small_sweep, tmp_path):
    sweep, _, batch, networks = small_sweep
    stored = lambda: {p: p.stat().st_mtime_ns for p in Path(sweep.output).glob("chunks/*/*.parquet")}  # noqa: E731
    before = stored()
    out, png = tmp_path / "summary.json", tmp_path / "energy.png"
    assert main(["sweep", "--output", sweep.output, "--report", str(out), "--plot", str(png)]) == 0
    summary = json.loads(out.read_text())
    assert summary["units"]["energy"] == "mJ per inference" and png.stat().st_size > 0
    row = next(r for r in summary["energy"] if (r["spec"], r["convention"], r["profile"]) == ("from_file", "exact", PROFILES[1]))
    reference = np.array([energy.estimate(networks["from_file"].run(x, engine="event"), PROFILES[1], "exact").total()
                          for x in batch]) / 1e9
    assert row["inputs"] == len(batch)
    assert row["mean_mj"] == pytest.approx(reference.mean(), rel=1e-12)
    assert row["std_mj"] == pytest.approx(reference.std(ddof=1), rel=1e-9)
    assert row["p95_mj"] == pytest.approx(np.percentile(reference, 95), rel=1e-12)
    assert len(before) == 6 and stored() == before


def test_a_killed_sweep_resumes_to_the_identical_table(tmp_path, scheduler):
    inputs_batch(tmp_path, 24)
    path = write_sweep(tmp_path, "inputs.npy", 1, [{"spec": SPEC, "synthetic_rate": 0.2, "seed": 3}])
    killed = tmp_path / "killed"
    chunks = killed / "chunks" / "every_kind"
    command = [sys.executable, "-m", "evsim.cli", "sweep", str(path), "--output", str(killed), "--workers", "1",
               "--no-progress"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 180   # a cold Numba cache on a loaded machine
        while not any(chunks.glob("[0-9]*.parquet")) and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
    finally:
        os.killpg(process.pid, signal.SIGKILL)   # the CLI, its scheduler and its worker, at once
        _, stderr = process.communicate()
    finished = len(list(chunks.glob("[0-9]*.parquet")))
    assert 0 < finished < 24, stderr.decode()[-2000:]
    (chunks / ".000023-000024.parquet.half.parquet").write_bytes(b"PAR1 half a file")
    (chunks / ".000022-000023.parquet.k1ll3d_.part").write_bytes(b"PAR1 half")  # write_atomic's name, as a kill mid-write leaves
    sweep = read_sweep(path)
    resumed = run_sweep(dataclasses.replace(sweep, output=str(killed)), scheduler=scheduler, progress=False)
    assert resumed.skipped >= finished and resumed.skipped + resumed.done == 24 and not resumed.failed
    assert not list(chunks.glob(".*"))
    uninterrupted = dataclasses.replace(sweep, output=str(tmp_path / "whole"))
    run_sweep(uninterrupted, scheduler=scheduler, progress=False)
    whole, after_resume = load_results(uninterrupted.output), load_results(killed)
    assert whole.num_rows == 24 * len(CONVENTIONS) * len(PROFILES)
    assert after_resume.equals(whole)
    manifest = json.loads((killed / "manifest.json").read_text())
    assert {c["status"] for c in manifest["chunks"]} == {"done"}


def test_a_failing_chunk_is_retried_reported_and_the_rest_completes(tmp_path, scheduler):
    from distributed import Client
    folder = tmp_path / "inputs"
    folder.mkdir()
    batch = inputs_batch(tmp_path, 5)
    for i, x in enumerate(batch):
        np.save(folder / f"in{i}.npy", x)
    (folder / "in2.npy").write_bytes(b"\x93NUMPY not really")
    path = write_sweep(tmp_path, "inputs", 2, [{"spec": SPEC, "synthetic_rate": 0.2, "seed": 1}], retries=1)
    sweep = read_sweep(path)
    outcome = run_sweep(sweep, scheduler=scheduler, progress=False)
    assert outcome.done == 2 and [c for c, _ in outcome.failed] == ["every_kind/000002-000004"]
    assert "in2.npy: cannot read input" in outcome.failed[0][1]
    table = load_results(sweep.output)
    assert sorted(set(table.column("input_id").to_pylist())) == ["in0.npy", "in1.npy", "in4.npy"]
    summary = summarize(Store(sweep.output))
    assert any("failed chunk every_kind/000002-000004" in n and "in2.npy" in n for n in summary.notes)
    with Client(scheduler) as client:   # Dask ran the failing chunk 1 + retries times
        logs = [message for worker in client.get_worker_logs().values() for _, message in worker]
    assert len([m for m in logs if "Compute Failed" in m and "every_kind/000002-000004" in m]) == 2
    # the same command again runs only the failed chunk, which fails again
    again = run_sweep(sweep, scheduler=scheduler, progress=False)
    assert (again.skipped, again.done, len(again.failed)) == (2, 0, 1)


def test_a_changed_sweep_does_not_mix_with_stored_results(small_sweep):
    sweep = small_sweep[0]
    changed = dataclasses.replace(sweep, chunk_size=4)
    with pytest.raises(SweepError, match=r"manifest.json: these results were computed for a different sweep "
                                         r"\(chunk_size: 3 then, 4 now\)"):
        run_sweep(changed)


@pytest.mark.parametrize("text,message", [
    ("specs:\n  - {spec: SPEC, synthetic_rate: 0.2}\ninputs: x.npy\nprofile: [loihi]\n",
     r"sweep.yaml:4: unknown key 'profile' in a sweep file — did you mean 'profiles'\?"),
    ("specs:\n  - {spec: SPEC}\ninputs: x.npy\n",
     r"sweep.yaml:2: spec entry '.*' needs exactly one of 'weights:' and 'synthetic_rate:'"),
    ("specs:\n  - {spec: SPEC, synthetic_rate: 1.5}\ninputs: x.npy\n",
     r"sweep.yaml:2: 'synthetic_rate' must be in \(0, 1\)"),
    ("specs:\n  - {spec: SPEC, synthetic_rate: 0.2}\ninputs: x.npy\nconventions: [exact, fancy]\n",
     r"sweep.yaml:4: unknown convention 'fancy' — choose from paper, exact, effective, dense"),
    ("specs:\n  - {spec: SPEC, synthetic_rate: 0.2}\n  - {spec: SPEC, weights: x.npy}\ninputs: x.npy\n",
     r"sweep.yaml:3: two specs are named 'every_kind' — give each a distinct 'name:'"),
    ("specs:\n  - {spec: SPEC, synthetic_rate: 0.2}\ninputs: one.npy\n",
     r"sweep.yaml:3: inputs do not fit spec 'every_kind': one.npy holds one input \[4, 9, 9\]"),
    ("specs:\n  - {spec: SPEC, synthetic_rate: 0.2}\ninputs: x.npy\nchunk_size: 0\n",
     r"sweep.yaml:4: 'chunk_size' must be a whole number ≥ 1"),
    ("specs:\n  - {spec: SPEC, synthetic_rate: 0.2\ninputs: x.npy\n", r"sweep.yaml:3: malformed YAML"),
])
def test_bad_sweep_files_are_one_line_located_errors(tmp_path, text, message):
    inputs_batch(tmp_path, 2, "x.npy")
    np.save(tmp_path / "one.npy", np.zeros((4, 9, 9)))
    path = tmp_path / "sweep.yaml"
    path.write_text(text.replace("SPEC", str(SPEC)))
    with pytest.raises(SweepError, match=message) as err:
        read_sweep(path)
    assert "\n" not in str(err.value)


def test_cli_error_for_a_bad_sweep_file_is_one_line(tmp_path, capsys):
    path = tmp_path / "sweep.yaml"
    path.write_text("specs: []\ninputs: x.npy\n")
    assert main(["sweep", str(path)]) == 2
    assert capsys.readouterr().err.strip() == f"evsim: error: {path}:1: 'specs' must be a non-empty list"

