"""EnergyReport: per layer and per operation kind, totals, in four formats and a chart.
Every figure carries its unit, and every header its convention and profile."""
from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass, field


@dataclass
class LayerEnergy:
    layer: str
    kind: str
    input_values: str
    ac: float
    mac: float
    neuron_updates: float
    output_spikes: float
    ac_pj: float
    mac_pj: float
    neuron_pj: float
    memory_pj: float
    memory_accesses: dict = field(default_factory=dict)

    @property
    def total_pj(self) -> float:
        return self.ac_pj + self.mac_pj + self.neuron_pj + self.memory_pj


COLUMNS = [("layer", "layer"), ("kind", "kind"), ("input_values", "input"), ("ac", "AC ops"), ("mac", "MAC ops"),
           ("neuron_updates", "neuron updates"), ("ac_pj", "AC pJ"), ("mac_pj", "MAC pJ"),
           ("neuron_pj", "neuron pJ"), ("memory_pj", "memory pJ"), ("total_pj", "total pJ")]


def human_energy(pj: float) -> str:
    for unit, scale in (("J", 1e12), ("mJ", 1e9), ("µJ", 1e6), ("nJ", 1e3)):
        if abs(pj) >= scale:
            return f"{pj / scale:.4g} {unit}"
    return f"{pj:.4g} pJ"


@dataclass
class EnergyReport:
    spec_name: str
    convention: object
    profile: object
    rows: list
    source: str = "measured"   # 'measured' (from a run) or 'analytic' (declared rates)
    stats: dict | None = field(default=None, repr=False)   # the LayerStats priced (for --format sj)

    def total(self, key="total_pj") -> float:
        return sum(getattr(r, key) for r in self.rows)

    @property
    def total_mj(self) -> float:
        return self.total() / 1e9

    @property
    def dataflow(self) -> str:
        memory = getattr(self.profile, "memory", None)
        return memory.dataflow if memory is not None else "none (no memory model)"

    @property
    def rates(self) -> str:
        """Where the rates behind the counts come from: measured in a run, declared, or none (an ANN)."""
        return "measured" if self.source == "measured" else "none" if self.source.startswith("ANN") else "declared"

    def tag(self) -> str:
        """The assumptions behind every figure, in one bracket."""
        return (f"[convention {self.convention.name}, profile {self.profile.name}, dataflow {self.dataflow}, "
                f"rates {self.rates}]")

    def header(self) -> str:
        return (f"energy per inference of {self.spec_name} ({self.source}) — convention: {self.convention.describe()}; "
                f"profile: {self.profile.header()}; dataflow: {self.dataflow}; rates: {self.rates}; "
                f"operations are counts per inference, energies in pJ")

    def totals_line(self) -> str:
        return (f"total: {self.total('ac'):.6g} AC + {self.total('mac'):.6g} MAC operations; "
                f"{human_energy(self.total())} per inference (AC {human_energy(self.total('ac_pj'))}, "
                f"MAC {human_energy(self.total('mac_pj'))}, neuron {human_energy(self.total('neuron_pj'))}, "
                f"memory {human_energy(self.total('memory_pj'))}) {self.tag()}")

    def records(self) -> list[dict]:
        out = []
        for r in self.rows:
            rec = {key: getattr(r, key) for key, _ in COLUMNS}
            rec.update({f"{k}": v for k, v in r.memory_accesses.items()})
            out.append(rec)
        return out

    def to_table(self) -> str:
        lines = [self.header()]
        widths = [max(len(title), 12) for _, title in COLUMNS]
        widths[0] = max([len("layer")] + [len(r.layer) for r in self.rows])
        lines.append("  ".join(t.ljust(w) if i < 3 else t.rjust(w) for i, ((_, t), w) in enumerate(zip(COLUMNS, widths))))
        for rec in self.records():
            cells = []
            for i, ((key, _), w) in enumerate(zip(COLUMNS, widths)):
                v = rec[key]
                cells.append(str(v).ljust(w) if i < 3 else f"{v:.6g}".rjust(w))
            lines.append("  ".join(cells))
        lines.append(self.totals_line())
        return "\n".join(lines)

    def to_csv(self) -> str:
        buffer = io.StringIO()
        buffer.write(f"# {self.header()}\n")
        records = self.records()
        keys = list(records[0]) if records else [k for k, _ in COLUMNS]
        writer = csv.DictWriter(buffer, fieldnames=keys)
        writer.writeheader()
        writer.writerows(records)
        return buffer.getvalue()

    def to_json(self) -> str:
        return json.dumps({
            "spec": self.spec_name, "source": self.source, "rates": self.rates, "dataflow": self.dataflow,
            "convention": asdict(self.convention),
            "profile": {"name": self.profile.name, "citation": self.profile.citation, "provenance": self.profile.provenance,
                        "energy_pj": self.profile.energy_pj},
            "units": {"operations": "count per inference", "energy": "pJ"},
            "layers": self.records(),
            "total_pj": self.total(), "total_mj": self.total_mj,
        }, indent=2)

    def to_markdown(self) -> str:
        lines = [f"**{self.header()}**", "", "| " + " | ".join(t for _, t in COLUMNS) + " |",
                 "|" + "|".join("---" if i < 3 else "---:" for i in range(len(COLUMNS))) + "|"]
        for rec in self.records():
            lines.append("| " + " | ".join(str(rec[k]) if i < 3 else f"{rec[k]:.6g}" for i, (k, _) in enumerate(COLUMNS)) + " |")
        lines += ["", self.totals_line()]
        return "\n".join(lines)

    def render(self, fmt: str) -> str:
        if fmt == "sj":   # SpikingJelly 2.0's terms (energy/sj_counters.py)
            from .sj_counters import to_sj
            return to_sj(self, self.stats or {})
        return {"table": self.to_table, "csv": self.to_csv, "json": self.to_json, "md": self.to_markdown}[fmt]()

    def plot(self, path=None, ax=None):
        """Stacked horizontal bars of energy per layer by kind (AC, MAC, neuron, memory); with
        ``path`` (its suffix names the image format) written atomically, checked before drawing."""
        import matplotlib.pyplot as plt
        if path:
            from evsim.outputs import check_destination
            check_destination(path, "image")
        rows = self.rows
        if ax is None:
            fig, ax = plt.subplots(figsize=(9, max(3, 0.22 * len(rows) + 1.5)))
        else:
            fig = ax.figure
        names = [r.layer for r in rows]
        left = [0.0] * len(rows)
        for key, label, color in (("ac_pj", "AC", "#4c72b0"), ("mac_pj", "MAC", "#dd8452"),
                                  ("neuron_pj", "neuron", "#55a868"), ("memory_pj", "memory", "#c44e52")):
            values = [getattr(r, key) / 1e6 for r in rows]
            if any(values):
                ax.barh(names, values, left=left, label=label, color=color)
                left = [a + b for a, b in zip(left, values)]
        ax.invert_yaxis()
        ax.set_xlabel("energy per inference (µJ)")
        ax.set_title(f"{self.spec_name}: {human_energy(self.total())} {self.tag()}", fontsize=8)
        ax.tick_params(axis="y", labelsize=6)
        ax.legend(fontsize=8)
        fig.tight_layout()
        if path:
            from pathlib import Path

            from evsim.outputs import write_output
            write_output(path, lambda f: fig.savefig(f, format=Path(path).suffix[1:].lower(), dpi=120), "image")
        return fig
