"""Energy: the papers' figures recomputed, conventions against closed forms, the memory
model against a hand calculation, and clear errors for bad profiles and rates."""
import csv
import io
import json

import numpy as np
import pytest

import energy
import evsim
from energy.audit import audit, vit_lca_flops
from evsim import load_spec
from evsim.cli import main
from evsim.errors import ProfileError

from conftest import MODELS, write_spec


class AuditRows(dict):
    """Audit rows computed on first use, one at a time: a test pays only for the rows it reads
    (a mutation run starts a fresh process per mutant)."""

    def __missing__(self, key):
        row, = audit(reprice=False, ids=[key])
        self[key] = row
        return row


@pytest.fixture(scope="module")
def audit_rows():
    return AuditRows()


def check(row, quantity):
    return next(c for c in row.checks if c.quantity.startswith(quantity))


def test_first_conv_of_8_512_and_paper_energy(audit_rows):
    row = audit_rows["spikformer-imagenet-8-512"]
    assert check(row, "first-conv MACs over T").recomputed == pytest.approx(0.347, abs=5e-4)
    energy_check = check(row, "energy from the claimed OPs")
    assert energy_check.recomputed == pytest.approx(11.577, abs=0.002)
    assert energy_check.status == "consistent"


def test_ann_transformer_row(audit_rows):
    energy_check = check(audit_rows["transformer-8-512-ann"], "energy from the claimed FLOPs")
    assert energy_check.recomputed == pytest.approx(8.33 * 4.6)
    # 8.33 is rounded: 8.325..8.335 GFLOPs give 38.295..38.341 mJ, which holds the claimed 38.34
    assert energy_check.status == "consistent" and abs(energy_check.recomputed - 38.34) < 0.03


def test_vit_lca_flops_and_energy(audit_rows):
    assert vit_lca_flops(50_000, 768, 100, 200) / 1e9 == pytest.approx(2.08, abs=0.005)
    row = audit_rows["vit-lca"]
    assert round(check(row, "FLOPs per inference").recomputed, 2) == 2.08
    assert round(check(row, "energy at the paper").recomputed, 2) == 0.19


def test_audit_finds_the_reused_first_conv(audit_rows):
    """8-384 and 8-768 claim energies that only add up with the 8-512 model's first conv
    (0.347 G MACs), although their first convs have 48 and 96 channels."""
    for model in ("spikformer-imagenet-8-384", "spikformer-imagenet-8-768"):
        row = audit_rows[model]
        assert check(row, "energy from the claimed OPs").status == "INCONSISTENT"
        assert check(row, "first-conv MACs the claimed energy implies").recomputed == pytest.approx(0.347, abs=1e-3)


def run_tiny(tmp_path, text, frames, params):
    spec = load_spec(write_spec(tmp_path, text))
    return spec, evsim.load(spec, params).run(frames, engine="event")


LINEAR = """name: tiny
input: {shape: [4], T: 2, encoding: frames, values: binary}
layers:
  - {name: fc, kind: linear, out_features: 3, bias: false}
  - {name: lif, kind: lif}
"""


def test_exact_equals_paper_for_linear_layers(tmp_path):
    frames = np.array([[1, 0, 1, 0], [0, 0, 0, 1]], dtype=float)
    spec, run = run_tiny(tmp_path, LINEAR, frames, {"fc": {"weight": np.ones((3, 4))}})
    paper = energy.estimate(run, convention="paper").rows[0]
    exact = energy.estimate(run, convention="exact").rows[0]
    assert paper.ac == exact.ac == 9  # (2 + 1) input spikes × 3 outputs
    analytic_paper = energy.analytic(spec, {"input": 0.25, "default": 0.2}, convention="paper").rows[0]
    analytic_exact = energy.analytic(spec, {"input": 0.25, "default": 0.2}, convention="exact").rows[0]
    assert analytic_paper.ac == pytest.approx(analytic_exact.ac) == pytest.approx(0.25 * 4 * 3 * 2)


def test_exact_differs_from_paper_by_the_border_deficit(tmp_path):
    text = """name: border
input: {shape: [2, 6, 5], T: 1, encoding: frames, values: binary}
layers:
  - {name: conv, kind: conv2d, out_channels: 3, kernel_size: 3, padding: 1}
  - {name: lif, kind: lif}
"""
    spec = load_spec(write_spec(tmp_path, text))
    padded = 6 * 5 * 9 * 2 * 3
    real = (6 * 3 - 2) * (5 * 3 - 2) * 2 * 3   # taps that land inside the image
    deficit = padded - real
    weights = {"conv": {"weight": np.ones((3, 2, 3, 3))}}
    run = evsim.load(spec, weights).run(np.ones((1, 2, 6, 5)), engine="event")
    gap = energy.estimate(run, convention="paper").rows[0].ac - energy.estimate(run, convention="exact").rows[0].ac
    assert gap == deficit
    r = 0.3
    gap = (energy.analytic(spec, {"input": r, "default": 0.1}, convention="paper").rows[0].ac
           - energy.analytic(spec, {"input": r, "default": 0.1}, convention="exact").rows[0].ac)
    assert gap == pytest.approx(r * deficit)


def test_memory_aware_terms_by_hand(tmp_path):
    frames = np.array([[1, 0, 1, 0], [0, 0, 0, 1]], dtype=float)
    spec, run = run_tiny(tmp_path, LINEAR, frames, {"fc": {"weight": np.ones((3, 4))}})
    # currents: step 0 → 2 on each output, H = 1.0 ≥ 1: spike; step 1 → 1, H = 0.5: silent
    assert run.spikes["lif"].sum() == 3
    report = energy.estimate(run, "lemaire-memory-fp32", "exact")
    fc, lif = report.rows
    word_pj = 10 / 2   # 8 KB SRAM: 10 pJ per 64-bit access, 32-bit words
    # fc: 9 weight reads, 2 × 9 potential accesses, 3 input events read
    assert fc.memory_accesses == {"weight_reads": 9, "potential_accesses": 18, "input_reads": 3, "output_writes": 0}
    assert fc.memory_pj == pytest.approx((9 + 18 + 3) * word_pj)
    # lif: 6 updates × 2 accesses, 6 nonzero currents read, 3 spikes written
    assert lif.memory_pj == pytest.approx((12 + 6 + 3) * word_pj)
    assert report.total("ac_pj") == pytest.approx(9 * 0.9)
    assert report.total() == pytest.approx(9 * 0.9 + (30 + 21) * word_pj)


def test_memory_buffer_tiers():
    model = energy.load_profile("lemaire-memory-fp32").memory
    assert model.access_pj(8192) == 5 and model.access_pj(8193) == 10 and model.access_pj(1 << 20) == 50
    assert model.access_pj((1 << 20) + 1) == 650


def test_integer_inputs_switch(tmp_path):
    text = """name: residual
input: {shape: [4], T: 1, encoding: frames, values: integer}
layers:
  - {name: fc, kind: linear, out_features: 2, bias: false}
"""
    spec, run = run_tiny(tmp_path, text, np.array([[2.0, 0, 1, 0]]), {"fc": {"weight": np.ones((2, 4))}})
    as_ac = energy.estimate(run, convention="exact", integer_as="ac").rows[0]
    as_mac = energy.estimate(run, convention="exact", integer_as="mac").rows[0]
    assert (as_ac.ac, as_ac.mac) == (6, 0)      # 3 spikes × fan-out 2
    assert (as_mac.ac, as_mac.mac) == (0, 4)    # 2 events × fan-out 2, as MACs


def test_reports_in_every_format(tmp_path):
    spec = load_spec(MODELS / "spikformer-cifar10-4-384.yaml")
    report = energy.analytic(spec, {"default": 0.15}, "horowitz45-fp32", "paper")
    table = report.to_table()
    assert "convention: paper" in table and "pJ" in table and "horowitz45-fp32" in table
    rows = list(csv.DictReader(io.StringIO(report.to_csv().split("\n", 1)[1])))
    assert float(rows[0]["mac"]) == pytest.approx(32 * 32 * 27 * 48 * 4)   # first conv, MAC, all T
    data = json.loads(report.to_json())
    assert data["units"]["energy"] == "pJ" and data["total_pj"] == pytest.approx(report.total())
    assert report.to_markdown().startswith("**energy per inference")
    report.plot(tmp_path / "energy.png")
    assert (tmp_path / "energy.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("text,fragment", [
    ("name: x\ncitation: c\nenergy_pj: {ac: 1, mac: 2}\n", "missing 'provenance'"),
    ("name: x\ncitation: c\nprovenance: guessed\nenergy_pj: {ac: 1, mac: 2}\n", "provenance 'guessed'"),
    ("name: x\ncitation: c\nprovenance: measured\nenergy_pj: {ac: -1, mac: 2}\n", "non-negative number of pJ"),
    ("name: x\ncitation: c\nprovenance: measured\nenergy_pj: {ac: 1, mac: 2, flop: 3}\n", "unknown operation 'flop'"),
    ("name: x\ncitation: c\nprovenance: measured\nenergy_pj: {ac: 1}\n", "at least 'ac' and 'mac'"),
    ("name: x\ncitation: c\nprovenance: measured\nenergy_pj: {ac: 1, mac: 2}\nmemory: {word_bits: 32}\n", "needs 'access_64bit_pj'"),
    ("name: [x\n", "malformed YAML"),
])
def test_malformed_profiles(tmp_path, text, fragment):
    path = write_spec(tmp_path, text, "profile.yaml")
    with pytest.raises(ProfileError) as err:
        energy.load_profile(str(path))
    assert fragment in str(err.value) and "profile.yaml" in str(err.value)


@pytest.mark.parametrize("text,fragment", [
    ("default: 1.5\n", "'default' must be a rate"),
    ("layers: {lif: high}\n", "rate of 'lif' must be a number"),
    ("layers: {lfi: 0.1}\n", "not a layer"),
    ("layers: {lif: {events: 0.5, spikes: 0.2}}\n", "{events: e, spikes: s} with 0 ≤ e ≤ 1 and s ≥ e"),
    ("layers: {lif: {events: 0.5, rate: 0.2}}\n", "rate of 'lif' has unknown detail ['rate']"),
    ("layers: {input: 0.2}\n", "no firing rate declared for spiking layer 'lif'"),
])
def test_malformed_rates(tmp_path, text, fragment):
    spec = load_spec(write_spec(tmp_path, LINEAR))
    path = write_spec(tmp_path, text, "rates.yaml")
    with pytest.raises(ProfileError) as err:
        energy.analytic(spec, str(path))
    assert fragment in str(err.value) and "rates.yaml" in str(err.value)


def test_cli_energy_measured_and_analytic(tmp_path, capsys):
    rates = write_spec(tmp_path, "default: 0.1\n", "rates.yaml")
    spec = str(MODELS / "spikformer-cifar10-4-256.yaml")
    assert main(["energy", spec, "--rates", str(rates), "--convention", "paper", "--format", "json"]) == 0
    analytic = json.loads(capsys.readouterr().out)
    assert analytic["source"].startswith("analytic, rates default at 33 layer(s)")
    assert "2 maxpool2d (inputs independent" in analytic["source"] and analytic["convention"]["name"] == "paper"
    out = tmp_path / "report.csv"
    assert main(["energy", spec, "--synthetic-rate", "0.1", "--format", "csv", "--output", str(out),
                 "--plot", str(tmp_path / "e.png")]) == 0
    assert out.read_text().startswith("# energy per inference") and (tmp_path / "e.png").exists()
    assert main(["energy", spec, "--profile", "nonexistent"]) == 2
    assert "unknown profile" in capsys.readouterr().err


def test_audit_cli(capsys):
    assert main(["audit", "--format", "md", "--no-measure"]) == 0
    out = capsys.readouterr().out
    assert "11.577" in out and "INCONSISTENT" in out and "lemaire-memory-fp32" in out
    # each Spikformer row: the implied rate beside the break-even rate under every profile and its dataflow
    assert "| dataflow-ws-fp32 (weight-stationary) |" in out and "implied rate 0.03731" in out


@pytest.mark.parametrize("name", ["paper", "exact", "effective", "dense"])
@pytest.mark.parametrize("integer_as,count_bias,analog_as_mac", [("ac", True, True), ("mac", False, False)])
def test_every_report_names_its_convention_and_switches(name, integer_as, count_bias, analog_as_mac):
    """The line every report prints under its figures states each pricing switch as set."""
    from energy.conventions import get_convention
    convention = get_convention(name, integer_as=integer_as, count_bias=count_bias, analog_as_mac=analog_as_mac)
    assert (convention.integer_as, convention.count_bias, convention.analog_as_mac) == (integer_as, count_bias, analog_as_mac)
    assert convention.describe() == (f"{name} (integer inputs as {integer_as.upper()}, bias/BN additions "
                                     f"{'counted' if count_bias else 'not counted'}, analog inputs as "
                                     f"{'MAC' if analog_as_mac else 'AC'})")


# -- pricing closed forms that single operators would break (mutation survivors) ----------

def test_paper_convention_on_integer_inputs_scales_by_events_or_spikes(tmp_path):
    """paper: rate × dense MACs, the rate being spikes per element when integer inputs are AC,
    events per element when they are MAC (one multiply per nonzero value)."""
    text = """name: residual
input: {shape: [4], T: 1, encoding: frames, values: integer}
layers:
  - {name: fc, kind: linear, out_features: 2, bias: false}
"""
    spec, run = run_tiny(tmp_path, text, np.array([[2.0, 0, 1, 0]]), {"fc": {"weight": np.ones((2, 4))}})
    as_ac = energy.estimate(run, convention="paper", integer_as="ac").rows[0]
    as_mac = energy.estimate(run, convention="paper", integer_as="mac").rows[0]
    assert (as_ac.ac, as_ac.mac) == (3 / 4 * 8, 0)     # 3 spikes over 4 elements × 8 dense MACs
    assert (as_mac.ac, as_mac.mac) == (0, 2 / 4 * 8)   # 2 events over 4 elements


def test_paper_convention_on_a_single_input_element(tmp_path):
    text = """name: one
input: {shape: [1], T: 2, encoding: frames, values: binary}
layers:
  - {name: fc, kind: linear, out_features: 3, bias: false}
"""
    _, run = run_tiny(tmp_path, text, np.array([[1.0], [0.0]]), {"fc": {"weight": np.ones((3, 1))}})
    assert energy.estimate(run, convention="paper").rows[0].ac == 3   # step 0: rate 1 × 3 MACs; step 1: 0


def test_attention_coincidences_are_added_where_the_convention_says(tmp_path):
    text = """name: att
input: {shape: [3, 3], T: 1, encoding: frames, values: binary}
layers:
  - {name: q, kind: lif, v_threshold: 0.5}
  - {name: k, kind: lif, v_threshold: 0.5, input: input}
  - {name: v, kind: lif, v_threshold: 0.5, input: input}
  - {name: ssa, kind: attention, inputs: [q, k, v], heads: 1, scale: 1.0}
"""
    x = np.array([[[1, 1, 0], [0, 0, 1], [1, 0, 0]]], dtype=float)
    spec = load_spec(write_spec(tmp_path, text))
    run = evsim.load(spec, {}).run(x, engine="event")
    stats = run.stats["ssa"]
    coincidences, events = stats.total("attention_coincidences"), stats.total("weighted_synaptic_events")
    assert coincidences > 0 and events > 0
    row = {r.layer: r for r in energy.estimate(run, convention="exact").rows}["ssa"]
    assert row.ac == coincidences + events
    paper = {r.layer: r for r in energy.estimate(run, convention="paper").rows}["ssa"]
    rate = stats.total("input_spikes") / stats.total("input_elements")   # 12 of 27: no coincidences added
    assert paper.ac == pytest.approx(rate * stats.total("dense_macs")) and rate == 12 / 27


def test_a_layers_row_carries_its_kind_values_and_every_energy_term(tmp_path):
    frames = np.array([[1, 0, 1, 0], [0, 0, 0, 1]], dtype=float)
    spec, run = run_tiny(tmp_path, LINEAR, frames, {"fc": {"weight": np.ones((3, 4))}})
    loihi = energy.load_profile("loihi")
    report = energy.estimate(run, loihi, energy.get_convention("exact", analog_as_mac=True))
    fc, lif = report.rows
    assert (fc.kind, fc.input_values, lif.kind, lif.input_values) == ("linear", "binary", "lif", "analog")
    e = loihi.energy_pj
    assert lif.neuron_pj == pytest.approx(6 * e["neuron_update"] + 3 * e["spike_routing"])   # 6 updates, 3 spikes
    assert lif.memory_pj == 0 and fc.memory_pj == 0
    half = energy.load_profile("horowitz45-fp32")
    mac = energy.estimate({"x": dataclasses_replace(run.stats["fc"], input_values="analog")}, half, "exact",
                          analog_as_mac=True).rows[0]
    assert mac.mac == 9 and mac.mac_pj == pytest.approx(9 * half.energy_pj["mac"]) and mac.ac == 0
    as_ac = energy.estimate({"x": dataclasses_replace(run.stats["fc"], input_values="analog")}, half, "exact",
                            analog_as_mac=False).rows[0]
    assert (as_ac.ac, as_ac.mac) == (9, 0)


def dataclasses_replace(stats, **changes):
    import dataclasses
    return dataclasses.replace(stats, **changes)


def test_estimate_names_and_keeps_what_it_priced(tmp_path):
    frames = np.array([[1, 0, 1, 0], [0, 0, 0, 1]], dtype=float)
    spec, run = run_tiny(tmp_path, LINEAR, frames, {"fc": {"weight": np.ones((3, 4))}})
    report = energy.estimate(run)
    assert (report.spec_name, report.source) == ("tiny", "measured") and report.stats is run.stats
    bare = energy.estimate(dict(run.stats))
    assert (bare.spec_name, bare.source) == ("", "measured") and bare.stats == run.stats
    assert energy.estimate(run, spec_name="other").spec_name == "other"
    assert energy.estimate(run, convention=energy.get_convention("paper")).convention.name == "paper"
    with pytest.raises(evsim.EvsimError, match="takes a Run or .*got list"):
        energy.estimate([1, 2])
    with pytest.raises(evsim.EvsimError, match="takes a Run or .*got dict"):
        energy.estimate({"fc": 3})


def test_rows_without_work_are_dropped_and_bad_counts_refused(tmp_path):
    import dataclasses
    frames = np.array([[1, 0, 1, 0], [0, 0, 0, 1]], dtype=float)
    spec, run = run_tiny(tmp_path, LINEAR, frames, {"fc": {"weight": np.ones((3, 4))}})
    idle = dataclasses.replace(run.stats["lif"], counts={k: np.zeros_like(v) for k, v in run.stats["lif"].counts.items()})
    only_updates = dataclasses.replace(idle, counts={**idle.counts, "neuron_updates": np.array([6, 6])})
    only_mac = dataclasses.replace(run.stats["fc"], input_values="analog")
    rows = energy.estimate({"idle": idle, "updates": only_updates, "fc": only_mac, "fc_ac": run.stats["fc"]},
                           "horowitz45-fp32", "exact", analog_as_mac=True).rows
    assert [r.layer for r in rows] == ["lif", "fc", "fc"]   # the idle layer is dropped, updates alone keep a row
    assert rows[0].neuron_updates == 12 and rows[0].total_pj == 0   # horowitz prices no neuron update
    negative = dataclasses.replace(run.stats["fc"], counts={**run.stats["fc"].counts, "weighted_synaptic_events": np.array([-5, 0])})
    with pytest.raises(ProfileError, match="negative or non-finite"):
        energy.estimate({"fc": negative})
    nan = dataclasses.replace(run.stats["fc"], counts={**run.stats["fc"].counts,
                                                         "weighted_synaptic_events": np.array([np.nan, 0.0])})
    with pytest.raises(ProfileError, match="negative or non-finite") as err:
        energy.estimate({"fc": nan})
    assert err.value.fix == "check the profile's figures and the layer's counts"
    assert err.value.file == energy.load_profile("horowitz45-fp32").path and err.value.file
