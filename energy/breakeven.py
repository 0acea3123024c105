"""Break-even firing rates: below which rate the SNN costs less than the same network as an
ANN on the same hardware profile (Dampfhoffer et al. 2023: SNNs win only below such a rate
once memory is counted).

    E_SNN(r)  analytic energy with every spiking layer at the declared rate r (spikes per
              neuron per step) and every other rate propagated by its kind's rule — the same
              uniform rate the audit's "implied rate" is;
    E_ANN     energy.ann: the spec as an ANN (T = 1, softmax attention), same profile.
    r*        E_SNN(r*) = E_ANN, solved on [0, 1] (regula falsi); every count grows with r, so E_SNN
              is non-decreasing. r* = 0 when E_SNN(0) ≥ E_ANN (the SNN loses at any rate:
              neuron-state traffic alone costs more); r* = inf when E_SNN(1) < E_ANN.

Per layer the same, with the layer's own SNN and ANN energy (both as functions of the
network's uniform rate r); each layer's row also gives its input event rate at r*.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from evsim.spec import Spec, load_spec

from .analytic import analytic_stats
from .ann import ann_stats
from .conventions import Convention, get_convention
from .estimate import estimate
from .profiles import Profile, load_profile
from .report import human_energy

MAX_EVALUATIONS = 100


@dataclass
class LayerBreakEven:
    layer: str
    ann_pj: float
    rate: float
    input_rate: float      # the layer's input events / input elements at r* (nan when r* is 0 or inf)


@dataclass
class BreakEven:
    spec_name: str
    profile: Profile
    convention: Convention
    ann_pj: float
    rate: float
    layers: list = field(default_factory=list)

    def tag(self) -> str:
        dataflow = self.profile.memory.dataflow if self.profile.memory else "no memory model"
        return (f"convention {self.convention.name}, profile {self.profile.name}, dataflow {dataflow}, "
                f"rates declared (uniform r)")

    def summary(self) -> str:
        return (f"{self.spec_name}: ANN {human_energy(self.ann_pj)} per inference; SNN break-even rate "
                f"{format_rate(self.rate)} spikes/neuron/step [{self.tag()}]")


def format_rate(rate: float) -> str:
    if rate == 0:
        return "none (the SNN costs more at any rate)"
    if math.isinf(rate):
        return "> 1 (the SNN costs less at every rate)"
    return f"{rate:.4g}"


class SnnCurve:
    """SNN energy per layer as a function of the uniform declared rate. Expected counts do not
    depend on the profile: ``cache`` ({rate: stats}) may be shared by curves of one spec."""

    def __init__(self, spec: Spec, profile: Profile, convention: Convention, cache: dict | None = None):
        self.spec, self.profile, self.convention = spec, profile, convention
        self._stats: dict = {} if cache is None else cache

    def stats(self, rate: float) -> dict:
        if rate not in self._stats:
            self._stats[rate] = analytic_stats(self.spec, {"default": rate})
        return self._stats[rate]

    def layers_pj(self, rate: float) -> dict:
        report = estimate(self.stats(rate), self.profile, self.convention)
        return {r.layer: r.total_pj for r in report.rows}

    def total_pj(self, rate: float) -> float:
        return sum(self.layers_pj(rate).values())


def solve(energy_at, target: float) -> float:
    """r in [0, 1] with energy_at(r) = target for a non-decreasing energy_at (0 / inf outside):
    regula falsi with the Illinois step (a handful of evaluations on these smooth curves),
    to |E(r) − target| ≤ 1e-9·target or a bracket narrower than 1e-12."""
    low, high = 0.0, 1.0
    f_low, f_high = energy_at(low) - target, energy_at(high) - target
    if f_low >= 0:
        return 0.0
    if f_high < 0:
        return math.inf
    side = 0
    for _ in range(MAX_EVALUATIONS):
        mid = (low * f_high - high * f_low) / (f_high - f_low)
        f_mid = energy_at(mid) - target
        if abs(f_mid) <= 1e-9 * abs(target) or high - low < 1e-12:
            return mid
        if f_mid < 0:
            low, f_low = mid, f_mid
            f_high, side = (f_high / 2, -1) if side == -1 else (f_high, -1)
        else:
            high, f_high = mid, f_mid
            f_low, side = (f_low / 2, 1) if side == 1 else (f_low, 1)
    return mid


def break_even(spec: Spec | str, profile: str | Profile = "dataflow-ws-fp32", convention: str | Convention = "exact",
               per_layer: bool = False, cache: dict | None = None) -> BreakEven:
    """The network's (and optionally each layer's) break-even rate under one profile
    (``cache``: expected counts by rate, shared between calls on one spec)."""
    spec = spec if isinstance(spec, Spec) else load_spec(spec)
    profile = profile if isinstance(profile, Profile) else load_profile(profile)
    convention = convention if isinstance(convention, Convention) else get_convention(convention)
    ann = {r.layer: r.total_pj for r in estimate(ann_stats(spec), profile, convention).rows}
    curve = SnnCurve(spec, profile, convention, cache)
    result = BreakEven(spec.name, profile, convention, sum(ann.values()), solve(curve.total_pj, sum(ann.values())))
    if per_layer:
        for name in dict.fromkeys([*ann, *curve.layers_pj(1.0)]):
            rate = solve(lambda r, name=name: curve.layers_pj(r).get(name, 0.0), ann.get(name, 0.0))
            stats = curve.stats(rate).get(name) if 0 < rate < math.inf else None
            input_rate = (stats.total("input_events") / stats.total("input_elements")
                          if stats is not None and stats.total("input_elements") else math.nan)
            result.layers.append(LayerBreakEven(name, ann.get(name, 0.0), rate, input_rate))
    return result


def plot(spec: Spec | str, profile: str | Profile = "dataflow-ws-fp32", convention: str | Convention = "exact",
         marked_rate: float | None = None, marked_label: str = "implied rate", path=None, points: int = 41):
    """Energy per inference against the uniform firing rate, SNN and ANN, with the break-even
    rate and ``marked_rate`` (a measured or implied rate) marked."""
    import matplotlib.pyplot as plt
    spec = spec if isinstance(spec, Spec) else load_spec(spec)
    found = break_even(spec, profile, convention)
    curve = SnnCurve(spec, found.profile, found.convention)
    rates = [i / (points - 1) for i in range(points)]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.plot(rates, [curve.total_pj(r) / 1e9 for r in rates], label="SNN (analytic, declared uniform rate)")
    ax.axhline(found.ann_pj / 1e9, color="#dd8452", label="ANN (T = 1, softmax attention)")
    if 0 < found.rate < math.inf:
        ax.axvline(found.rate, color="grey", linestyle=":", label=f"break-even r* = {found.rate:.4g}")
    if marked_rate is not None:
        ax.axvline(marked_rate, color="#c44e52", linestyle="--", label=f"{marked_label} {marked_rate:.4g}")
    ax.set_xlabel("firing rate (spikes per neuron per step)")
    ax.set_ylabel("energy per inference (mJ)")
    ax.set_yscale("log")
    ax.set_title(f"{spec.name}: {found.tag()}", fontsize=8)
    ax.legend(fontsize=8)
    fig.tight_layout()
    if path:
        from pathlib import Path

        from evsim.outputs import write_output
        write_output(path, lambda f: fig.savefig(f, format=Path(path).suffix[1:].lower(), dpi=120), "image")
    return fig
