"""Summaries of stored sweep results: energy per inference per spec × convention × profile,
and mean firing rate per layer per spec — as text, Markdown, CSV or JSON, and a chart.

Read from the output folder only (``evsim sweep --report``): nothing is recomputed.
Energies are in mJ per inference; std is the sample standard deviation (n − 1); percentiles
interpolate linearly between inputs.
"""
from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..files import write_atomic
from ..outputs import write_output
from .store import FAILED, Store

PJ_PER_MJ = 1e9
ENERGY_COLUMNS = [("spec", "spec"), ("convention", "convention"), ("profile", "profile"), ("inputs", "inputs"),
                  ("mean_mj", "mean mJ"), ("std_mj", "std mJ"), ("p5_mj", "p5 mJ"), ("p50_mj", "median mJ"),
                  ("p95_mj", "p95 mJ")]
RATE_COLUMNS = [("spec", "spec"), ("layer", "layer"), ("inputs", "inputs"),
                ("mean_rate", "mean firing rate (spikes/neuron/step)")]
FORMATS = {".md": "md", ".csv": "csv", ".json": "json"}   # anything else: text


@dataclass
class Summary:
    """The figures of a results folder; ``notes`` say what they cover and in which units."""
    energy: list      # dicts keyed as ENERGY_COLUMNS
    rates: list       # dicts keyed as RATE_COLUMNS
    notes: list       # lines: units, conventions, coverage


def _energy_rows(table, plan) -> list[dict]:
    spec = np.asarray(table.column("spec").to_pylist(), dtype=object)
    convention = np.asarray(table.column("convention").to_pylist(), dtype=object)
    profile = np.asarray(table.column("profile").to_pylist(), dtype=object)
    energy_mj = table.column("energy_pj").to_numpy() / PJ_PER_MJ
    rows = []
    for s in (n["name"] for n in plan["specs"]):
        for c in plan["conventions"]:
            for p in plan["profiles"]:
                values = energy_mj[(spec == s) & (convention == c) & (profile == p)]
                if not len(values):
                    continue
                p5, p50, p95 = np.percentile(values, [5, 50, 95])
                rows.append({"spec": s, "convention": c, "profile": p, "inputs": len(values),
                             "mean_mj": float(values.mean()), "std_mj": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
                             "p5_mj": float(p5), "p50_mj": float(p50), "p95_mj": float(p95)})
    return rows


def _rate_rows(table, plan) -> list[dict]:
    """Mean over inputs of each spiking layer's rate (one row of each input is read)."""
    first = table.filter((np.asarray(table.column("convention").to_pylist(), dtype=object) == plan["conventions"][0])
                         & (np.asarray(table.column("profile").to_pylist(), dtype=object) == plan["profiles"][0]))
    per_layer: dict = {}
    for s, rates in zip(first.column("spec").to_pylist(), first.column("firing_rates").to_pylist()):
        for item in rates:
            per_layer.setdefault((s, item["layer"]), []).append(item["rate"])
    order = {n["name"]: i for i, n in enumerate(plan["specs"])}
    return [{"spec": s, "layer": layer, "inputs": len(v), "mean_rate": float(np.mean(v))}
            for (s, layer), v in sorted(per_layer.items(), key=lambda kv: order[kv[0][0]])]


def summarize(store: Store) -> Summary:
    """The summary of a results folder."""
    from energy import get_convention
    manifest = store.manifest or store.load()
    plan = manifest["plan"]
    table = store.read_table()
    chunks = manifest["chunks"]
    done = sum(store.is_done(c) for c in chunks)
    failed = [c for c in chunks if c["status"] == FAILED and not store.is_done(c)]
    expected = plan["inputs"]["count"] * len(plan["specs"])
    finished = sum(c["stop"] - c["start"] for c in chunks if store.is_done(c))
    notes = [f"energy per inference in mJ (std: sample standard deviation; p5/median/p95: percentiles over inputs), "
             f"{plan['engine']} engine, {plan['dtype']}; results of {finished} of {expected} spec × input runs "
             f"({done} of {len(chunks)} chunks done"
             + (f", {len(failed)} failed" if failed else "")
             + (f", {len(chunks) - done - len(failed)} not run yet" if len(chunks) - done - len(failed) else "") + ")"]
    notes += [f"convention {get_convention(c).describe()}" for c in plan["conventions"]]
    notes += [f"failed chunk {c['id']}: {c['error']}" for c in failed]
    return Summary(_energy_rows(table, plan), _rate_rows(table, plan), notes)


def _cell(value) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def _text_table(columns, rows) -> list[str]:
    cells = [[_cell(r[k]) for k, _ in columns] for r in rows]
    widths = [max([len(t)] + [len(c[i]) for c in cells]) for i, (_, t) in enumerate(columns)]
    numeric = [bool(rows) and not isinstance(rows[0][k], str) for k, _ in columns]
    fit = lambda text, i: text.rjust(widths[i]) if numeric[i] else text.ljust(widths[i])  # noqa: E731
    lines = ["  ".join(fit(t, i) for i, (_, t) in enumerate(columns))]
    lines += ["  ".join(fit(c, i) for i, c in enumerate(row)) for row in cells]
    return lines


def _markdown_table(columns, rows) -> list[str]:
    lines = ["| " + " | ".join(t for _, t in columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    return lines + ["| " + " | ".join(_cell(r[k]) for k, _ in columns) + " |" for r in rows]


def render(summary: Summary, fmt: str = "text") -> str:
    """The summary as ``text``, ``md``, ``csv`` (two tables, each after a '#' line) or ``json``."""
    if fmt == "json":
        return json.dumps({"notes": summary.notes, "units": {"energy": "mJ per inference",
                                                               "firing rate": "spikes per neuron per step"},
                           "energy": summary.energy, "firing_rates": summary.rates}, indent=2)
    if fmt == "csv":
        out = io.StringIO()
        for title, columns, rows in (("energy per inference, mJ", ENERGY_COLUMNS, summary.energy),
                                     ("mean firing rate per layer, spikes/neuron/step", RATE_COLUMNS, summary.rates)):
            out.write(f"# {title}\n")
            writer = csv.writer(out)
            writer.writerow([k for k, _ in columns])
            writer.writerows([[r[k] for k, _ in columns] for r in rows])
        return out.getvalue().rstrip("\n")
    table = _markdown_table if fmt == "md" else _text_table
    lines = [("- " if fmt == "md" else "") + n for n in summary.notes] + [""]
    lines += table(ENERGY_COLUMNS, summary.energy) + [""] + table(RATE_COLUMNS, summary.rates)
    return "\n".join(lines)


def format_for(path: str) -> str:
    return FORMATS.get(Path(path).suffix.lower(), "text")


def plot(store: Store, path) -> None:
    """Box plots of energy per inference (mJ, log scale) per spec × convention × profile,
    written atomically."""
    import matplotlib.pyplot as plt
    plan = (store.manifest or store.load())["plan"]
    table = store.read_table()
    keys = list(zip(table.column("spec").to_pylist(), table.column("convention").to_pylist(),
                    table.column("profile").to_pylist()))
    energy_mj = table.column("energy_pj").to_numpy() / PJ_PER_MJ
    groups = {}
    for key, value in zip(keys, energy_mj):
        groups.setdefault(key, []).append(value)
    labels = [(s["name"], c, p) for s in plan["specs"] for c in plan["conventions"] for p in plan["profiles"]
              if (s["name"], c, p) in groups]
    fig, ax = plt.subplots(figsize=(8, max(2.5, 0.35 * len(labels) + 1.2)))
    ax.boxplot([groups[k] for k in labels], vert=False)
    ax.set_yticks(range(1, len(labels) + 1), [" · ".join(k) for k in labels])
    ax.set_xscale("log")
    ax.invert_yaxis()
    ax.set_xlabel("energy per inference (mJ)")
    ax.set_title("energy per inference by spec · convention · profile", fontsize=9)
    ax.tick_params(axis="y", labelsize=7)
    fig.tight_layout()
    write_output(path, lambda f: fig.savefig(f, format=Path(path).suffix[1:].lower(), dpi=120), "image")
    plt.close(fig)


def write_report(store: Store, out: str | None = None, plot_path: str | None = None) -> str:
    """Render the stored results: to ``out`` (format by suffix, written atomically) or return
    the text table when ``out`` is None or '-'; also the chart when ``plot_path`` is given."""
    summary = summarize(store)
    if plot_path:
        plot(store, plot_path)
    if out and out != "-":
        text = render(summary, format_for(out))
        write_atomic(out, lambda tmp: Path(tmp).write_text(text + "\n"))
    return render(summary, "text")

