"""The family's efficiency claims on one footing (issue 18): every shipped model whose paper published
an energy, priced at the firing rate that paper's own figures imply, under the paper's convention,
the exact one and a memory-aware profile, beside the same network as an ANN on that hardware.

One row per spec with a published energy (the first claims row of methods ``spikformer-sop``,
``sop-energy-only``, ``vit-lca``), at its rate r:

    r          the uniform spiking rate at which the paper convention reproduces the paper's SOPs
               (the audit's implied rate), or the rates the spec declares (ViT-LCA: M̂/M)
    paper      Σ fr × T × dense FLOPs per layer: E_MAC on analog inputs (first conv, head), E_AC on the rest
    exact      each input event's real fan-out (edge-exact), attention coincidences added
    memory     the exact counts plus weight, membrane and I/O traffic (a memory-aware profile with its dataflow)
    ANN        the same shapes as an ANN (energy/ann.py: T = 1, analog activations, softmax attention),
               exact convention, on the memory-aware profile

A paper whose own method is not fr × FLOPs (ViT-LCA: FLOPs × 0.0909 pJ) has no ``paper`` figure, and
no ANN figure: its ANN counterpart is not the same shapes run densely (ViT-LCA's is the ViT itself).
Specs with no published energy, operation count or rate are listed, not priced: any rate would be ours.
Energy never runs a network: every figure here is analytic (expected counts at declared rates).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from evsim.spec import load_spec
from evsim.spec.graph import shipped, shipped_specs

from .analytic import analytic
from .ann import ann_report
from .audit import CLAIMS_PATH, audit, load_claims
from .profiles import load_profile

# method → whether the paper's own energy method is the fr × FLOPs ('paper') convention
PRICED_METHODS = {"spikformer-sop": True, "sop-energy-only": True, "vit-lca": False}
COLUMNS = (("paper", "horowitz45-fp32"), ("exact", "horowitz45-fp32"), ("exact", "dataflow-ws-fp32"))
ANN_PROFILE = "dataflow-ws-fp32"


@dataclass
class ComparisonRow:
    claim_id: str
    spec: str
    params_m: float
    top1_percent: float | None
    claimed_mj: float
    rate: float | None            # None: the rates the spec declares
    priced: dict = field(default_factory=dict)   # (convention, profile) → mJ, or None where not meaningful
    ann_mj: float | None = None   # None where not meaningful

    @property
    def rate_label(self) -> str:
        return "spec-declared" if self.rate is None else f"{self.rate:.4f}"


def compare(rows=None, claims_path=CLAIMS_PATH, columns=COLUMNS, ann_profile=ANN_PROFILE):
    """(comparison rows, specs not priced). ``rows``: audit rows already computed (their implied
    rates are reused), else the audit runs without re-pricing."""
    claims = {c["id"]: c for c in load_claims(claims_path)}
    rows = audit(claims_path, reprice=False) if rows is None else rows
    out, seen = [], set()
    for row in rows:
        claim = claims[row.id]
        spec_name = claim.get("spec") and shipped(claim["spec"]).stem
        if claim["method"] not in PRICED_METHODS or spec_name in seen or "energy_mj" not in claim["claimed"]:
            continue
        if PRICED_METHODS[claim["method"]] and not (row.implied_rate is not None and 0 <= row.implied_rate <= 1):
            continue
        seen.add(spec_name)
        spec = load_spec(shipped(spec_name))
        rate = row.implied_rate if PRICED_METHODS[claim["method"]] else None
        rates = {"default": rate} if rate is not None else None
        priced = {(conv, prof): (analytic(spec, rates, prof, conv).total_mj
                                 if conv != "paper" or PRICED_METHODS[claim["method"]] else None)
                  for conv, prof in columns}
        ann = ann_report(spec, ann_profile).total_mj if PRICED_METHODS[claim["method"]] else None
        out.append(ComparisonRow(row.id, spec_name, spec.param_count / 1e6, claim["claimed"].get("top1_percent"),
                                 claim["claimed"]["energy_mj"], rate, priced, ann))
    unpriced = [name for name in shipped_specs() if name not in seen]
    return out, unpriced


def _header(columns, ann_profile) -> list[str]:
    dataflow = lambda p: (load_profile(p).memory.dataflow if load_profile(p).memory else "no memory")  # noqa: E731
    return (["model (spec)", "params (M)", "top-1 (%)", "claimed (mJ)", "rate (spikes/neuron/step)"]
            + [f"{conv} (mJ, {prof}, {dataflow(prof)})" for conv, prof in columns]
            + [f"ANN (mJ, {ann_profile}, exact)"])


def _cells(r: ComparisonRow, columns) -> list[str]:
    fmt = lambda v: "—" if v is None else f"{v:.4g}"  # noqa: E731
    return ([r.spec, f"{r.params_m:.2f}", fmt(r.top1_percent), f"{r.claimed_mj:g}", r.rate_label]
            + [fmt(r.priced[c]) for c in columns] + [fmt(r.ann_mj)])


def render(rows, unpriced, fmt="table", columns=COLUMNS, ann_profile=ANN_PROFILE) -> str:
    """The comparison as an aligned table, Markdown or CSV (every figure in mJ per inference)."""
    header = _header(columns, ann_profile)
    body = [_cells(r, columns) for r in rows]
    note = ("Energy per inference (mJ), analytic at each paper's implied uniform rate (spec-declared: the rates "
            "in the spec); '—' where the paper's own method is not fr × FLOPs (no paper or ANN figure).")
    rest = f"Not priced (no published energy, OPs or rates): {', '.join(unpriced)}."
    if fmt == "csv":
        quote = lambda s: f'"{s}"' if "," in s else s  # noqa: E731
        return "\n".join(",".join(quote(c) for c in line) for line in [header, *body])
    if fmt == "md":
        lines = ["| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)]
        return "\n".join([note, "", *lines, *("| " + " | ".join(b) + " |" for b in body), "", rest])
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]
    lines = ["  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(line, widths)))
             for line in [header, *body]]
    return "\n".join([note, *lines, rest])
