"""Dataflow-aware memory, the ANN on the same hardware and break-even rates, each against a
hand calculation (energy/dataflow.py, energy/ann.py, energy/breakeven.py)."""
import math

import numpy as np
import pytest

import energy
import evsim
from energy.ann import ann_report
from energy.breakeven import break_even, format_rate, plot
from evsim import load_spec
from evsim.errors import ProfileError

from conftest import MODELS, write_spec

LINEAR = """name: tiny
input: {shape: [4], T: 2, encoding: frames, values: binary}
layers:
  - {name: fc, kind: linear, out_features: 3, bias: false}
  - {name: lif, kind: lif}
"""
FRAMES = np.array([[1, 0, 1, 0], [0, 0, 0, 1]], dtype=float)

# per 64-bit access: ≤ 16 B 1 pJ, ≤ 64 B 2 pJ, ≤ 8 KB 10 pJ, DRAM 1300 → per 32-bit word 0.5, 1, 5, 650
TINY_PROFILE = """name: tiny-{dataflow}
citation: test
provenance: modelled
energy_pj: {{ac: 0.9, mac: 4.6}}
memory:
  word_bits: 32
  access_64bit_pj: {{16: 1, 64: 2, 8192: 10}}
  dram_64bit_pj: 1300
  dataflow: {dataflow}
  buffer_bytes: {{weights: 32, membranes: 8, activations: 16}}
"""


def tiny_profile(tmp_path, dataflow):
    path = tmp_path / f"{dataflow}.yaml"
    path.write_text(TINY_PROFILE.format(dataflow=dataflow))
    return energy.load_profile(str(path))


@pytest.fixture
def tiny_run(tmp_path):
    spec = load_spec(write_spec(tmp_path, LINEAR))
    run = evsim.load(spec, {"fc": {"weight": np.ones((3, 4))}}).run(FRAMES, engine="event")
    assert run.spikes["lif"].sum() == 3   # step 0: current 2 → spike on all 3; step 1: current 1, H = 0.5
    return spec, run


def test_no_reuse_reproduces_the_model_before_dataflows():
    """Figures of lemaire-memory*.yaml computed by the code before energy/dataflow.py existed
    (commit 1bbbc3b, analytic at r = 0.037), pinned to the last digit printed."""
    spec = load_spec(MODELS / "spikformer-cifar10-4-384.yaml")
    before = {("lemaire-memory-fp32", "exact"): 463615569385.4743,
              ("lemaire-memory-sram-fp32", "paper"): 127007953044.54338}
    for (profile, convention), memory_pj in before.items():
        report = energy.analytic(spec, {"default": 0.037}, profile, convention)
        assert report.profile.memory.dataflow == "no-reuse"
        assert report.total("memory_pj") == pytest.approx(memory_pj, rel=1e-12)


def test_weight_stationary_traffic_by_hand(tmp_path, tiny_run):
    _, run = tiny_run
    report = energy.estimate(run, tiny_profile(tmp_path, "weight-stationary"), "exact")
    fc, lif = report.rows
    # fc: W = 12 weights (48 B) in a 32 B buffer → 2 tiles; each tile's 2 outputs (8 B) fit the
    # 8 B membrane buffer → no spills; both tiles re-read the 3 input events (6 reads); the input
    # over both steps (2 × 4 × 4 B = 32 B) exceeds the 16 B activation buffer → 6 fetches.
    assert fc.memory_accesses == {"weight_reads": 9, "potential_accesses": 18, "input_reads": 6, "output_writes": 0,
                                  "tiles": 2, "weight_fills": 12, "potential_fills": 0, "input_fills": 6,
                                  "output_fills": 0}
    # buffer prices: weights min(48, 32) B → 1 pJ, membranes min(12, 8) → 0.5, inputs min(16, 16) → 0.5;
    # backing: weights 48 B → 1, inputs 32 B → 1
    assert fc.memory_pj == pytest.approx(9 * 1 + 12 * 1 + 18 * 0.5 + 6 * 0.5 + 6 * 1)
    # lif: 3 potentials (12 B) exceed the 8 B buffer → 2 × 3 × 2 = 12 spill words at 12 B (0.5 pJ);
    # 6 updates × 2 at 0.5; 6 currents read at 0.5 and fetched at 24 B (1 pJ); 3 spikes written at 0.5
    # and, the output over both steps (24 B) exceeding the activation buffer, 3 spilled at 1 pJ
    assert lif.memory_accesses["potential_fills"] == 12 and lif.memory_accesses["output_fills"] == 3
    assert lif.memory_pj == pytest.approx(12 * 0.5 + 12 * 0.5 + 6 * 0.5 + 6 * 1 + 3 * 0.5 + 3 * 1)
    assert report.total() == pytest.approx(9 * 0.9 + 39 + 25.5)


def test_output_stationary_traffic_by_hand(tmp_path, tiny_run):
    _, run = tiny_run
    fc, lif = energy.estimate(run, tiny_profile(tmp_path, "output-stationary"), "exact").rows
    # fc: 3 outputs (12 B) in an 8 B membrane buffer → 2 tiles, potentials never spilled; weights
    # (48 B) exceed their 32 B buffer → streamed: min(9 synaptic ops, 2 tiles × 2 steps × 12) = 9
    assert (fc.memory_accesses["tiles"], fc.memory_accesses["weight_fills"], fc.memory_accesses["potential_fills"]) == (2, 9, 0)
    assert fc.memory_pj == pytest.approx(9 * 1 + 9 * 1 + 18 * 0.5 + 6 * 0.5 + 6 * 1)
    assert lif.memory_pj == pytest.approx(12 * 0.5 + 6 * 0.5 + 6 * 1 + 3 * 0.5 + 3 * 1)


def test_ann_linear_layer_by_hand(tmp_path, tiny_run):
    spec, _ = tiny_run
    plain = ann_report(spec, "horowitz45-fp32")
    assert [r.layer for r in plain.rows] == ["fc"] and plain.rows[0].mac == 12   # 4 inputs × 3 outputs, one pass
    assert plain.total() == pytest.approx(12 * 4.6)
    fc, lif = ann_report(spec, tiny_profile(tmp_path, "weight-stationary")).rows
    # 12 MACs at 4.6 pJ; 12 weight reads (1 pJ) + 12 weight fills (1 pJ); 24 accumulator accesses
    # (0.5); 2 tiles × 4 analog inputs read (0.5), the 16 B input fits the activation buffer → no fetch
    assert fc.mac_pj == pytest.approx(12 * 4.6)
    assert fc.memory_pj == pytest.approx(12 * 1 + 12 * 1 + 24 * 0.5 + 8 * 0.5)
    # the activation (fused): no state; 3 values written (0.5 pJ), 12 B fit the activation buffer
    assert (lif.neuron_updates, lif.memory_pj) == (0, pytest.approx(3 * 0.5))
    assert "rates none" in plain.totals_line()


def test_break_even_closed_form(tmp_path):
    """ac 3, mac 4, neuron update 1 pJ, no memory: SNN(r) = 3 · 24 r + 6 (6 updates), ANN = 4 · 12
    → r* = 42 / 72."""
    spec = load_spec(write_spec(tmp_path, LINEAR))
    path = tmp_path / "p.yaml"
    path.write_text("name: p\ncitation: t\nprovenance: modelled\nenergy_pj: {ac: 3, mac: 4, neuron_update: 1}\n")
    found = break_even(spec, str(path), per_layer=True)
    assert found.ann_pj == pytest.approx(48)
    assert found.rate == pytest.approx(42 / 72, abs=1e-9)
    by_layer = {row.layer: row for row in found.layers}
    assert by_layer["fc"].rate == pytest.approx(48 / 72, abs=1e-9) and by_layer["fc"].input_rate == pytest.approx(48 / 72)
    assert by_layer["lif"].rate == 0      # 6 pJ of updates against an ANN activation that costs 0
    assert format_rate(0).startswith("none") and format_rate(math.inf).startswith("> 1")


def test_break_even_rate_equalises_energies_to_the_printed_precision():
    spec = load_spec(MODELS / "spikformer-cifar10-2-384.yaml")
    found = break_even(spec, "dataflow-ws-fp32")
    assert 0 < found.rate < 1
    printed = float(format_rate(found.rate))
    snn = energy.analytic(spec, {"default": printed}, "dataflow-ws-fp32", "exact").total()
    assert snn == pytest.approx(found.ann_pj, rel=5e-4)
    assert "dataflow weight-stationary" in found.summary() and "rates declared" in found.summary()


def test_break_even_plot(tmp_path, tiny_run):
    spec, _ = tiny_run
    plot(spec, "lemaire-memory-fp32", marked_rate=0.3, path=tmp_path / "b.png", points=5)
    assert (tmp_path / "b.png").read_bytes()[:4] == b"\x89PNG"


def test_report_names_its_assumptions(tmp_path, tiny_run):
    _, run = tiny_run
    line = energy.estimate(run, tiny_profile(tmp_path, "weight-stationary"), "exact").totals_line()
    assert "convention exact" in line and "profile tiny-weight-stationary" in line
    assert "dataflow weight-stationary" in line and "rates measured" in line


@pytest.mark.parametrize("memory, fragment", [
    ("dataflow: diagonal", "unknown dataflow"),
    ("dataflow: weight-stationary", "needs 'buffer_bytes'"),
    ("buffer_bytes: {weights: -1}", "must map weights"),
])
def test_malformed_dataflow(tmp_path, memory, fragment):
    path = tmp_path / "bad.yaml"
    path.write_text("name: x\ncitation: c\nprovenance: modelled\nenergy_pj: {ac: 1, mac: 2}\n"
                    f"memory:\n  word_bits: 32\n  access_64bit_pj: {{8192: 10}}\n  dram_64bit_pj: 100\n  {memory}\n")
    with pytest.raises(ProfileError, match=fragment):
        energy.load_profile(str(path))


def test_report_in_spikingjelly_terms(tiny_run):
    _, run = tiny_run
    text = energy.estimate(run, "horowitz45-fp32", "exact").render("sj")
    fc_line = next(line for line in text.splitlines() if line.startswith("fc "))
    assert fc_line.split()[1:] == ["9", "0", "8.1"]     # 9 SynOps (binary input), no MAC, 9 × 0.9 pJ
    assert "SpikingJelly 2.0 terms" in text and "dataflow none" in text and "rates measured" in text
