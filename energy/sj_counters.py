"""An energy report in SpikingJelly 2.0's terms (``activation_based.op_counter``), for users
coming from it. Per layer, from evsim's LayerStats (tests/test_sj2_counters.py checks the
equalities on the official Spikformer):

    SynOps   binary-input conv/linear: evsim's synaptic events (SJ's SynOps, edge-exact both);
             attention: evsim's exact count (coincidences of the first product + events of the
             second). SJ counts the second product as N·nnz(V) instead (score matrix not binary).
    MACs     integer- or analog-input layers: the dense MACs (SJ: a tensor not all 0/1 is dense;
             evsim's own conventions charge an integer input per spike instead).
    E        E_MAC·MACs + E_AC·SynOps with the profile's prices (SJ's simple estimator).
Not in these columns: SJ's ACs for BatchNorm and neuron arithmetic, and its memory accesses.
"""
from __future__ import annotations

from evsim.spec import BINARY

from .report import human_energy

NOTE = ("SpikingJelly 2.0 terms: SynOps = spike-driven synaptic operations (binary inputs; attention counted "
        "exactly here, SJ counts its second product as N·nnz(V)); MACs = dense MACs of integer/analog-input "
        "layers; E = E_MAC·MACs + E_AC·SynOps; SJ's BatchNorm/neuron ACs and memory accesses not included")


def sj_rows(report, stats: dict) -> list[tuple]:
    """(layer, SynOps, MACs, energy pJ) per layer with synaptic work."""
    e = report.profile.energy_pj
    rows = []
    for name, s in stats.items():
        if not s.total("dense_macs"):
            continue
        if s.input_values == BINARY:
            synops, macs = float(s.total("synaptic_events") + s.total("attention_coincidences")), 0.0
        else:
            synops, macs = 0.0, float(s.total("dense_macs"))
        rows.append((name, synops, macs, e["mac"] * macs + e["ac"] * synops))
    return rows


def to_sj(report, stats: dict) -> str:
    rows = sj_rows(report, stats)
    lines = [f"{report.header()}", f"# {NOTE}", f"{'layer':<34}{'SynOps':>16}{'MACs':>16}{'energy pJ':>16}"]
    lines += [f"{name:<34}{synops:>16.6g}{macs:>16.6g}{pj:>16.6g}" for name, synops, macs, pj in rows]
    total = sum(r[3] for r in rows)
    lines.append(f"total: {sum(r[1] for r in rows):.6g} SynOps + {sum(r[2] for r in rows):.6g} MACs; "
                 f"{human_energy(total)} per inference (SJ simple estimator at the profile's AC/MAC prices) "
                 f"{report.tag()}")
    return "\n".join(lines)
