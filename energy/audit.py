"""The claims audit: each published figure beside its recomputation from the spec.

For every row of ``claims.yaml`` the audit recomputes what can be recomputed — parameters,
first-layer MACs, dense FLOPs, the energy that the paper's own operation count gives under
its own constants, the mean firing rate that count implies — marks each claimed number
consistent (within rounding of the figures it was computed from) or not, then re-prices
the row under the stricter conventions and other profiles at that implied rate.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from evsim.errors import ProfileError, SpecError
from evsim.kinds.attention import Attention
from evsim.spec import ANALOG, load_spec
from evsim.spec.graph import shipped
from evsim.spec.yamlio import read_yaml

from .analytic import analytic, analytic_stats
from .breakeven import break_even, format_rate
from .conventions import get_convention, operations
from .measured import MEASURED
from .profiles import load_profile

CLAIMS_PATH = Path(__file__).parent / "claims.yaml"
REPRICE_CONVENTIONS = ("paper", "exact", "dense")
REPRICE_PROFILES = ("horowitz45-fp32", "lemaire-memory-sram-fp32", "lemaire-memory-fp32", "dataflow-ws-fp32",
                    "dataflow-os-fp32", "loihi")
# the SNN against its ANN on the same hardware (energy/breakeven.py); an ANN on Loihi is not a comparison
BREAKEVEN_PROFILES = ("horowitz45-fp32", "lemaire-memory-sram-fp32", "lemaire-memory-fp32", "dataflow-ws-fp32",
                      "dataflow-os-fp32")
BREAKEVEN_CONVENTION = "exact"


def half_unit(value) -> float:
    """Half a unit in the last digit a number was written with (11.577 → 0.0005)."""
    text = repr(float(value))
    decimals = len(text.split(".")[1]) if "." in text and not text.endswith(".0") else 0
    return 0.5 * 10 ** -decimals


@dataclass
class Check:
    quantity: str
    unit: str
    claimed: float | None
    recomputed: float
    tolerance: float = 0.0
    note: str = ""

    @property
    def difference(self):
        return None if self.claimed is None else self.recomputed - self.claimed

    @property
    def status(self) -> str:
        if self.claimed is None:
            return "derived"
        return "consistent" if abs(self.difference) <= self.tolerance + 1e-12 else "INCONSISTENT"


@dataclass
class AuditRow:
    id: str
    model: str
    source: str
    checks: list
    repriced: dict = field(default_factory=dict)   # (convention, profile) → mJ
    implied_rate: float | None = None
    breakeven: dict = field(default_factory=dict)  # profile → (break-even rate, ANN mJ), exact convention


def first_conv(spec):
    """The first layer with synapses on the analog image (a conv, or GL-SPS's multi-branch conv)."""
    return next(n for n in spec.layers if spec.dense_ops(n) and spec.in_values(n)[0] == ANALOG)


def paper_sops(spec, rate) -> float:
    """Σ over AC layers of fr × T × FLOPs at a uniform declared rate (the paper convention),
    first conv and head excluded (they are MAC)."""
    stats = analytic_stats(spec, {"default": rate})
    convention = get_convention("paper")
    return sum(operations(s, convention)["ac"] for s in stats.values())


def implied_rate(spec, sops) -> float:
    """The uniform spiking rate at which the paper convention reproduces ``sops`` (Brent's
    method on the increasing function r ↦ SOPs(r) − sops over [0, 1], to 1e-12)."""
    from scipy.optimize import brentq
    if paper_sops(spec, 1.0) < sops:
        return float("nan")
    return brentq(lambda rate: paper_sops(spec, rate) - sops, 0.0, 1.0, xtol=1e-12, rtol=1e-12)


def _tolerance(claim, key, derived_from=()):
    """Explicit tolerance, else rounding of the claim plus the rounding of its inputs."""
    given = (claim.get("tolerance") or {}).get(key)
    if given is not None:
        return float(given)
    return half_unit(claim["claimed"][key]) + sum(abs(weight) * half_unit(value) for weight, value in derived_from)


def _spikformer_sop(claim, spec):
    c, k = claim["claimed"], claim["constants"]
    T = spec.input.T
    first = spec.dense_ops(first_conv(spec)) * T
    energy_mj = (k["mac_pj"] * first + k["ac_pj"] * c["ops_g"] * 1e9) / 1e9
    rate = implied_rate(spec, c["ops_g"] * 1e9)
    dense = sum(spec.dense_ops(n) * spec.steps(n) for n in spec.layers) - first
    return [
        Check("parameters", "M", c["params_m"], spec.param_count / 1e6, _tolerance(claim, "params_m")),
        Check("first-conv MACs over T", "G", None, first / 1e9),
        Check("energy from the claimed OPs", "mJ", c["energy_mj"], energy_mj,
              _tolerance(claim, "energy_mj", [(k["ac_pj"], c["ops_g"])])),
        Check("first-conv MACs the claimed energy implies", "G", None,
              (c["energy_mj"] * 1e9 - k["ac_pj"] * c["ops_g"] * 1e9) / k["mac_pj"] / 1e9,
              note="(E − E_AC·OPs) / E_MAC; compare with the spec's first conv"),
        Check("dense FLOPs after the first conv, over T", "G", None, dense / 1e9),
        Check("mean firing rate the OPs imply", "spikes/neuron/step", None, rate,
              note="uniform rate of every spiking layer that reproduces the OPs under the paper convention"),
    ], rate


def _sop_energy_only(claim, spec):
    """A row that gives parameters and energy but no operation count (SNN-ViT): the SOPs the
    energy implies under E = E_MAC·FLOPs(first conv, over T) + E_AC·SOPs, and the rate they imply."""
    c, k = claim["claimed"], claim["constants"]
    first = spec.dense_ops(first_conv(spec)) * spec.input.T
    sops = (c["energy_mj"] * 1e9 - k["mac_pj"] * first) / k["ac_pj"]
    dense = sum(spec.dense_ops(n) * spec.steps(n) for n in spec.layers) - first
    params = c.get("params_m")   # a row may give no parameter count (then the spec's is shown, unchecked)
    rate = implied_rate(spec, sops)
    return [
        Check("parameters", "M", params, spec.param_count / 1e6, _tolerance(claim, "params_m") if params else 0.0),
        Check("first-conv MACs over T", "G", None, first / 1e9),
        Check("SOPs the claimed energy implies", "G", None, sops / 1e9, note="(E − E_MAC·first conv) / E_AC"),
        Check("dense FLOPs after the first conv, over T", "G", None, dense / 1e9),
        Check("mean firing rate the implied SOPs imply", "spikes/neuron/step", None, rate,
              note="uniform rate of every spiking layer that reproduces them under the paper convention"),
    ], rate


def _parameters(claim, spec):
    """A row that gives a parameter count only (a CIFAR table, a training log's exact count)."""
    c = claim["claimed"]
    return [Check("parameters", "M", c["params_m"], spec.param_count / 1e6, _tolerance(claim, "params_m"))], None


def _ann_flops(claim, spec):
    c, k = claim["claimed"], claim["constants"]
    one_step = sum(layer.ann_macs(spec.in_shapes(name), spec.shapes[name]) for name, layer in spec.layers.items())
    return [
        Check("parameters", "M", c["params_m"], spec.param_count / 1e6, _tolerance(claim, "params_m")),
        Check("energy from the claimed FLOPs", "mJ", c["energy_mj"], k["mac_pj"] * c["flops_g"],
              _tolerance(claim, "energy_mj", [(k["mac_pj"], c["flops_g"])])),
        Check("FLOPs (MACs) of the same structure, one pass, softmax attention", "G", c["flops_g"], one_step / 1e9,
              _tolerance(claim, "flops_g"), note="softmax, LayerNorm and GELU not counted"),
    ], None


def _attention_layer(spec):
    return next(n for n, l in spec.layers.items() if isinstance(l, Attention))


def _attention_sop(claim, spec):
    c, k = claim["claimed"], claim["constants"]
    dense = spec.dense_ops(_attention_layer(spec))
    return [
        Check("energy from the claimed OPs", "µJ", c["energy_uj"], k["ac_pj"] * c["ops_m"],
              _tolerance(claim, "energy_uj", [(k["ac_pj"], c["ops_m"])])),
        Check("dense attention operations, one block and step", "M", None, dense / 1e6),
        Check("firing rate the OPs imply (OPs / dense)", "spikes/neuron/step", None, c["ops_m"] * 1e6 / dense),
    ], None


def _vsa_flops(claim, spec):
    c, k = claim["claimed"], claim["constants"]
    n, width = spec.in_shapes(_attention_layer(spec))[0]
    macs = 2 * n * n * width
    return [
        Check("energy from the claimed FLOPs", "µJ", c["energy_uj"], k["mac_pj"] * c["flops_m"],
              _tolerance(claim, "energy_uj", [(k["mac_pj"], c["flops_m"])])),
        Check("attention MACs Q Kᵀ and A V, one block and step", "M", c["flops_m"], macs / 1e6,
              _tolerance(claim, "flops_m"), note="softmax not counted; 2 FLOPs per MAC would give twice this"),
    ], None


def vit_lca_flops(atoms, features, iterations, active) -> float:
    """K((2N − 1)M/K + 2 M M̂ + M): b = Φᵀ S once, then per iteration the sparse
    lateral inhibition ΦᵀΦ a over M̂ active atoms, and the update."""
    return iterations * ((2 * features - 1) * atoms / iterations + 2 * atoms * active + atoms)


def _vit_lca(claim, spec):
    c, k = claim["claimed"], claim["constants"]
    flops = vit_lca_flops(k["atoms"], k["features"], k["iterations"], k["active"])
    gramian = k["atoms"] * (k["atoms"] + 1) * (2 * k["features"] - 1) / 2
    macs = k["features"] * k["atoms"] + k["iterations"] * k["atoms"] * k["active"]   # b, and a_j·G[j, :] per event
    lca_45nm = (k["mac_pj"] * macs + k["ac_pj"] * k["iterations"] * k["atoms"]) / 1e9
    vit_45nm = k["mac_pj"] * k["vit_gflops"]
    return [
        Check("FLOPs per inference", "G", c["flops_g"], flops / 1e9, _tolerance(claim, "flops_g")),
        Check("energy at the paper's pJ per operation", "mJ", c["energy_mj"], flops * k["pj_per_op"] / 1e9,
              _tolerance(claim, "energy_mj")),
        Check("training Gramian FLOPs", "T", c["training_gramian_flops_t"], gramian / 1e12,
              _tolerance(claim, "training_gramian_flops_t")),
        Check("ViT-B/16 forward pass per image, not counted by the paper", "G FLOPs", None, k["vit_gflops"]),
        Check("LCA MACs (N·M + K·M·M̂) and updates (K·M)", "G", None, (macs + k["iterations"] * k["atoms"]) / 1e9),
        Check("LCA energy at 45 nm (4.6 pJ per MAC, 0.9 pJ per update)", "mJ", None, lca_45nm,
              note="the constants of the spiking papers (Horowitz 2014)"),
        Check("ViT-B/16 pass as MAC work at 45 nm (17.56 G MACs × 4.6 pJ)", "mJ", None, vit_45nm),
        Check("ViT-B/16 + LCA at 45 nm", "mJ", None, vit_45nm + lca_45nm),
        Check("ViT-B/16 (2 FLOPs per MAC) + LCA at the paper's pJ per op", "mJ", None,
              (flops + 2 * k["vit_gflops"] * 1e9) * k["pj_per_op"] / 1e9),
    ], None


METHODS = {"spikformer-sop": _spikformer_sop, "sop-energy-only": _sop_energy_only, "parameters": _parameters,
           "ann-flops": _ann_flops,
           "attention-sop": _attention_sop, "vsa-flops": _vsa_flops, "vit-lca": _vit_lca, **{name: None for name in MEASURED}}
CLAIM_KEYS = {"id", "model", "source", "spec", "method", "constants", "claimed", "tolerance", "weights", "inputs"}


def _measured(claim, spec, measure):
    """A row recomputed from runs of the claim's spec, weights and inputs (shipped beside the
    specs); without a ``measure`` function the row says so."""
    if measure is None:
        return [Check("not measured: run 'evsim audit' (it runs the inputs)", "", None, float("nan"))]
    return MEASURED[claim["method"]](claim, spec, measure)


def load_claims(path=CLAIMS_PATH) -> list:
    try:
        raw = read_yaml(path, "claims file")
    except SpecError as err:
        raise ProfileError(err.bare_message, file=err.file, line=err.line, fix=err.fix) from None
    if not isinstance(raw, list):
        raise ProfileError("a claims file is a list of claims", file=str(path))
    for claim in raw:
        missing = {"id", "model", "source", "method", "constants", "claimed"} - set(claim)
        unknown = set(claim) - CLAIM_KEYS
        if missing or unknown or claim.get("method") not in METHODS:
            problem = (f"missing {sorted(missing)}" if missing else f"unknown keys {sorted(unknown)}" if unknown
                       else f"unknown method '{claim.get('method')}'")
            raise ProfileError(f"claim '{claim.get('id', '?')}': {problem}", file=str(path), line=claim.line,
                               fix=f"methods: {', '.join(METHODS)}")
    return raw


def audit(path=CLAIMS_PATH, reprice=True, measure=None, ids=None) -> list[AuditRow]:
    """Every claim's row (or those in ``ids``); ``measure`` (see energy/measured.py) runs the rows
    recomputed from measurements — the caller's engine: energy never runs a network."""
    rows = []
    for claim in load_claims(path):
        if ids is not None and claim["id"] not in ids:
            continue
        spec = load_spec(shipped(claim["spec"])) if claim.get("spec") else None
        if claim["method"] in MEASURED:
            checks, rate = _measured(claim, spec, measure), None
        else:
            checks, rate = METHODS[claim["method"]](claim, spec)
        row = AuditRow(claim["id"], claim["model"], claim["source"], checks)
        row.implied_rate = rate if rate is not None and rate == rate else None
        if reprice and row.implied_rate is not None:
            for convention in REPRICE_CONVENTIONS:
                for profile in REPRICE_PROFILES:
                    row.repriced[(convention, profile)] = analytic(spec, {"default": rate}, profile, convention).total_mj
            counts_by_rate: dict = {}
            for profile in BREAKEVEN_PROFILES:
                found = break_even(spec, profile, BREAKEVEN_CONVENTION, cache=counts_by_rate)
                row.breakeven[profile] = (found.rate, found.ann_pj / 1e9)
        rows.append(row)
    return rows


def render(rows, fmt="table") -> str:
    if fmt == "json":
        import json
        return json.dumps([{"id": r.id, "model": r.model, "source": r.source,
                            "checks": [{"quantity": c.quantity, "unit": c.unit, "claimed": c.claimed,
                                        "recomputed": c.recomputed, "difference": c.difference,
                                        "tolerance": c.tolerance, "status": c.status, "note": c.note} for c in r.checks],
                            "repriced_mj": {f"{conv}/{prof}": v for (conv, prof), v in r.repriced.items()},
                            "implied_rate": r.implied_rate,
                            "breakeven": {prof: {"rate": rate, "ann_mj": ann, "convention": BREAKEVEN_CONVENTION}
                                          for prof, (rate, ann) in r.breakeven.items()}}
                           for r in rows], indent=2)
    if fmt == "csv":
        lines = ["id,quantity,unit,claimed,recomputed,difference,tolerance,status"]
        for r in rows:
            for c in r.checks:
                lines.append(f"{r.id},\"{c.quantity}\",{c.unit},{'' if c.claimed is None else c.claimed},{c.recomputed:.6g},"
                             f"{'' if c.difference is None else f'{c.difference:.6g}'},{c.tolerance:.3g},{c.status}")
        return "\n".join(lines)
    bar = "|" if fmt == "md" else ""
    out = []
    for r in rows:
        out.append(f"{'### ' if fmt == 'md' else '== '}{r.model}  [{r.id}]  — {r.source}")
        if fmt == "md":
            out += ["", "| quantity | unit | claimed | recomputed | difference | status |", "|---|---|---:|---:|---:|---|"]
        for c in r.checks:
            claimed = "—" if c.claimed is None else f"{c.claimed:g}"
            diff = "" if c.difference is None else f"{c.difference:+.4g}"
            cells = [c.quantity, c.unit, claimed, f"{c.recomputed:.5g}", diff, c.status]
            out.append(f"| {' | '.join(cells)} |" if fmt == "md" else
                       f"  {c.quantity:<62} {c.unit:<19} {claimed:>9} {cells[3]:>11} {diff:>10}  {c.status}")
        if r.repriced:
            out.append("" if fmt == "md" else "  re-priced at the implied rate (mJ per inference; analytic, rates declared, no weights; "
                       "each profile's dataflow as in its file):")
            profiles = list(dict.fromkeys(p for _, p in r.repriced))
            conventions = list(dict.fromkeys(c for c, _ in r.repriced))
            if fmt == "md":
                out += ["| convention | " + " | ".join(profiles) + " |", "|---|" + "---:|" * len(profiles)]
            else:
                out.append(f"    {'convention':<12}" + "".join(f"{p:>26}" for p in profiles))
            for conv in conventions:
                values = [f"{r.repriced[(conv, p)]:.4g}" for p in profiles]
                out.append(f"| {conv} | " + " | ".join(values) + " |" if fmt == "md" else
                           f"    {conv:<12}" + "".join(f"{v:>26}" for v in values))
        if r.breakeven:
            out += render_breakeven(r, fmt)
        out.append(bar and "")
    return "\n".join(out)


def dataflow_of(profile: str) -> str:
    memory = load_profile(profile).memory
    return memory.dataflow if memory is not None else "no memory model"


def render_breakeven(row, fmt) -> list:
    """Per profile: the ANN of the same spec, and the rate below which the SNN costs less,
    beside the rate the paper's figures imply."""
    head = (f"SNN vs the same network as an ANN on the same hardware (convention {BREAKEVEN_CONVENTION}, "
            f"rates declared, uniform): implied rate {row.implied_rate:.4g} spikes/neuron/step")
    cells = [(f"{prof} ({dataflow_of(prof)})", f"{ann:.4g}", format_rate(rate),
              "SNN" if row.implied_rate < rate else "ANN") for prof, (rate, ann) in row.breakeven.items()]
    if fmt == "md":
        return ["", head, "", "| profile (dataflow) | ANN mJ | break-even rate | cheaper at the implied rate |",
                "|---|---:|---:|---|", *(f"| {' | '.join(c)} |" for c in cells)]
    return [f"  {head}:", f"    {'profile (dataflow)':<46}{'ANN mJ':>12}  {'break-even rate':<40}cheaper at implied rate",
            *(f"    {p:<46}{a:>12}  {b:<40}{w}" for p, a, b, w in cells)]
