"""Hostile and careless inputs (issue 14): one test per case. Each asserts one clear line (an
EvsimError, exit 2) — never a traceback, never the catch-all "internal error" — and that
what existed before a failed or interrupted command is byte-identical after it.

Classes: 1 data loss, 2 half-done imports, 3 unchecked values, 4 exhaustion, 5 late
failures, 6 tracebacks instead of messages (numbered as in the issue)."""
import os
import stat
import time
import zipfile

import numpy as np
import pytest

import energy
import evsim
from evsim import EvsimError
from evsim.cli import main
from evsim.errors import InputError, MemoryBudgetError, ProfileError, SpecError
from evsim.synthetic import initial_weights

from conftest import MODELS, SPECS

SMALL = SPECS / "every_kind.yaml"
RATES = SPECS / "rates-default.yaml"
FRAMES = """name: frames
input: {shape: [2, 4, 4], T: 2, encoding: frames, values: integer}
layers:
  - {name: conv, kind: conv2d, out_channels: 3, kernel_size: 3, padding: 1}
  - {name: bn, kind: batchnorm}
  - {name: lif, kind: lif}
  - {name: flat, kind: flatten}
  - {name: head, kind: linear, out_features: 2}
"""


def cli(capsys, *args):
    """Run the CLI; returns (exit code, stdout, stderr). A failure must be exactly one line."""
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err and "internal error" not in err, err
    if code != 0:
        assert code in (2, 130), (code, err)
        message = [line for line in err.splitlines() if line.startswith("evsim")]
        assert len(message) == 1 and err.rstrip().endswith(message[0]), err  # one line (after any progress bar)
    return code, out, err


def fail(capsys, *args, says):
    code, out, err = cli(capsys, *args)
    assert code == 2, (out, err)
    assert says in err, err
    return err


def snapshot(*paths):
    return {str(p): p.read_bytes() for p in paths}


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.fixture
def frames(tmp_path):
    return write(tmp_path, "frames.yaml", FRAMES)


@pytest.fixture
def small_net():
    spec = evsim.load_spec(SMALL)
    return evsim.load(spec, initial_weights(spec, 0))


@pytest.fixture
def previous(tmp_path):
    """Outputs from an earlier command, which a failed one must leave byte-identical."""
    files = {}
    for name in ("prev.npy", "prev.npz", "prev.txt", "prev.png", "prev.out"):
        (tmp_path / name).write_bytes(b"earlier output " + name.encode())
        files[name] = tmp_path / name
    return files


# -- 1. data loss -------------------------------------------------------------------------------

def test_1_output_without_suffix_keeps_the_exact_name(tmp_path, capsys):
    out = tmp_path / "prev.out"
    out.write_bytes(b"old")
    code, printed, _ = cli(capsys, "run", SMALL, "--synthetic-rate", "0.2", "--engine", "dense", "--save-output", out)
    assert code == 0 and f"wrote {out}" in printed
    assert np.load(out).shape == (3,)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["prev.out"]  # no hidden temp file, no prev.out.npy


def test_1_spikes_archive_named_npy_is_refused_before_work(tmp_path, capsys, previous):
    before = snapshot(*previous.values())
    err = fail(capsys, "run", SMALL, "--synthetic-rate", "0.2", "--save-spikes", previous["prev.npy"], says="--save-spikes")
    assert ".npz" in err and "calibrating" not in err
    assert snapshot(*previous.values()) == before


def test_1_output_npy_named_npz_is_refused(tmp_path, capsys, previous):
    fail(capsys, "run", SMALL, "--synthetic-rate", "0.2", "--save-output", previous["prev.npz"], says="name it ….npy")
    assert previous["prev.npz"].read_bytes() == b"earlier output prev.npz"


def test_1_plot_without_image_suffix_fails_first(tmp_path, capsys):
    fail(capsys, "energy", SMALL, "--rates", RATES, "--plot", tmp_path / "chart",
         says="cannot tell the image format")
    assert not (tmp_path / "chart").exists()


def test_1_output_mode_follows_the_umask(tmp_path, capsys):
    old = os.umask(0o027)
    try:
        cli(capsys, "energy", SMALL, "--synthetic-rate", "0.2", "--engine", "dense", "--output", tmp_path / "e.txt")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "e.txt").stat().st_mode) == 0o640


def test_1_existing_output_keeps_its_mode(tmp_path):
    from evsim.outputs import write_text
    target = tmp_path / "report.txt"
    target.write_text("old")
    target.chmod(0o604)
    write_text(target, "new")
    assert target.read_text() == "new" and stat.S_IMODE(target.stat().st_mode) == 0o604


def test_1_symlinked_destination_is_written_through(tmp_path, small_net):
    real = tmp_path / "store" / "w.npz"
    real.parent.mkdir()
    real.write_bytes(b"old")
    link = tmp_path / "w.npz"
    link.symlink_to(real)
    small_net.save_weights(link)
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert evsim.load(small_net.spec, link).params.keys() == small_net.params.keys()


def test_1_weights_with_an_unknown_suffix_are_refused(tmp_path, small_net):
    with pytest.raises(EvsimError, match="ends in '.bin'"):
        small_net.save_weights(tmp_path / "w.bin")
    assert list(tmp_path.iterdir()) == []


def test_1_a_path_writer_that_changes_the_name_is_an_error_not_data_loss(tmp_path):
    from evsim.files import write_atomic
    target = tmp_path / "prev.out"
    target.write_bytes(b"keep")
    with pytest.raises(RuntimeError, match="instead of the file it was given"):
        write_atomic(target, lambda tmp: np.save(tmp, np.zeros(3)))  # NumPy writes tmp + '.npy'
    assert target.read_bytes() == b"keep" and sorted(p.name for p in tmp_path.iterdir()) == ["prev.out"]


def test_1_two_outputs_to_one_file_are_refused(tmp_path, capsys):
    fail(capsys, "energy", SMALL, "--rates", RATES, "--output", tmp_path / "x.png",
         "--plot", tmp_path / "x.png", says="named for two outputs")


# -- 5. late failures: every destination is checked before the work -----------------------------

def test_5_output_that_is_a_folder_fails_before_the_run(tmp_path, capsys):
    (tmp_path / "out.npy").mkdir()
    err = fail(capsys, "run", SMALL, "--synthetic-rate", "0.2", "--save-output", tmp_path / "out.npy", says="is a folder")
    assert "calibrating" not in err


def test_5_parent_that_is_a_file_fails_before_the_run(tmp_path, capsys, previous):
    fail(capsys, "run", SMALL, "--synthetic-rate", "0.2", "--save-spikes", previous["prev.txt"] / "s.npz",
         says="is a file, so nothing can be written under it")


def test_5_energy_report_destination_checked_first(tmp_path, capsys, previous):
    fail(capsys, "energy", SMALL, "--synthetic-rate", "0.2", "--output", previous["prev.txt"] / "r.txt",
         says="is a file")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_5_unwritable_folder_fails_first(tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    fail(capsys, "run", SMALL, "--synthetic-rate", "0.2", "--save-output", locked / "o.npy", says="not writable")


def test_5_export_destination_checked_before_loading(tmp_path, capsys):
    (tmp_path / "o.pth").mkdir()
    fail(capsys, "export", tmp_path / "missing.yaml", tmp_path / "w.npz", "--variant", "cifar", "-o", tmp_path / "o.pth",
         says="is a folder")


def test_5_crossval_plot_checked_before_brian2_runs(tmp_path, capsys):
    fail(capsys, "crossval", "--model", "lif-hard", "--plot", tmp_path / "traces.txt", says="cannot tell the image format")


# -- 2. half-done imports ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch = pytest.importorskip("torch")
    from evsim.importers.spikformer import export_state_dict
    folder = tmp_path_factory.mktemp("ckpt")
    spec_path = folder / "tiny.yaml"
    spec_path.write_text(f"extends: {MODELS / 'spikformer-cifar10-4-384.yaml'}\n"
                         "input: {shape: [3, 16, 16], T: 2, encoding: direct}\nparams: {depth: 1, D: 16, heads: 2}\n")
    spec = evsim.load_spec(spec_path)
    state = export_state_dict(spec, initial_weights(spec, 0), "cifar")
    good = folder / "good.pth"
    torch.save({k: torch.from_numpy(np.asarray(v)) for k, v in state.items()}, good)
    broken = dict(state)
    broken["head.weight"] = np.full_like(state["head.weight"], np.nan)
    bad = folder / "nan.pth"
    torch.save({k: torch.from_numpy(np.asarray(v)) for k, v in broken.items()}, bad)
    return good, bad


def import_args(checkpoint, out, *extra):
    return ("import", "spikformer", checkpoint, "--variant", "cifar", "--heads", "2", "--img-size", "16", "--T", "2",
            "-o", out, *extra)


def test_2_failed_import_leaves_the_existing_folder_untouched(tmp_path, capsys, checkpoint):
    good, bad = checkpoint
    out = tmp_path / "imported"
    assert cli(capsys, *import_args(good, out))[0] == 0
    before = snapshot(out / "model.yaml", out / "weights.safetensors")
    fail(capsys, *import_args(bad, out), says="NaN")
    assert snapshot(out / "model.yaml", out / "weights.safetensors") == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["imported"]  # no staging folder left


def test_2_failed_import_writes_no_spec(tmp_path, capsys, checkpoint):
    fail(capsys, *import_args(checkpoint[1], tmp_path / "new"), says="NaN")
    assert not (tmp_path / "new").exists() and list(tmp_path.iterdir()) == []


def test_2_import_with_wrong_heads_writes_nothing(tmp_path, capsys, checkpoint):
    args = list(import_args(checkpoint[0], tmp_path / "new"))
    args[args.index("--heads") + 1] = "3"
    fail(capsys, *args, says="--heads must divide")
    assert list(tmp_path.iterdir()) == []


def test_2_import_of_an_absurd_image_size_writes_nothing(tmp_path, capsys, checkpoint):
    args = list(import_args(checkpoint[0], tmp_path / "new"))
    args[args.index("--img-size") + 1] = "65536"
    err = fail(capsys, *args, says="absurdly large")
    assert ".part" not in err and list(tmp_path.iterdir()) == []


def test_2_import_refuses_a_folder_with_other_files(tmp_path, capsys, checkpoint):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep")
    fail(capsys, *import_args(checkpoint[0], tmp_path / "mine"), says="holds other files (notes.txt)")
    assert [p.name for p in (tmp_path / "mine").iterdir()] == ["notes.txt"]


def test_2_reimport_replaces_spec_and_weights_together(tmp_path, capsys, checkpoint):
    out = tmp_path / "imported"
    out.mkdir()
    (out / "model.yaml").write_text("stale")
    (out / "weights.safetensors").write_bytes(b"stale")
    assert cli(capsys, *import_args(checkpoint[0], out))[0] == 0
    net = evsim.load(out / "model.yaml", out / "weights.safetensors")
    assert net.spec.path == str(out / "model.yaml")


def test_2_import_interrupted_leaves_nothing(tmp_path, capsys, checkpoint, monkeypatch):
    import evsim.weights
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(evsim.weights, "save", interrupted)
    code, _, err = cli(capsys, *import_args(checkpoint[0], tmp_path / "new"))
    assert code == 130 and "interrupted" in err and list(tmp_path.iterdir()) == []


def test_2_import_options_out_of_range(tmp_path, capsys, checkpoint):
    with pytest.raises(SystemExit) as exit_info:
        main([str(a) for a in import_args(checkpoint[0], tmp_path / "new")][:-2] + ["--T", "0", "-o", str(tmp_path / "n")])
    assert exit_info.value.code == 2 and "must be between 1 and 100000" in capsys.readouterr().err


# -- 3. unchecked values ------------------------------------------------------------------------------

def test_3_negative_integer_frames_are_refused(frames):
    spec = evsim.load_spec(frames)
    net = evsim.load(spec, initial_weights(spec, 0))
    x = np.zeros((2, 2, 4, 4), dtype=np.int64)
    x[0, 0, 0, 0] = -3
    with pytest.raises(InputError, match="negative values"):
        net.run(x)


def test_3_negative_frames_from_the_cli(tmp_path, capsys, frames):
    np.save(tmp_path / "x.npy", -np.ones((2, 2, 4, 4)))
    fail(capsys, "energy", frames, "--synthetic-rate", "0.2", "--input", tmp_path / "x.npy", "--engine", "dense",
         says="negative values")


def test_3_fractional_integer_frames_are_refused(frames):
    spec = evsim.load_spec(frames)
    with pytest.raises(InputError, match="fractional"):
        evsim.load(spec, initial_weights(spec, 0)).run(np.full((2, 2, 4, 4), 0.5))


def test_3_binary_frames_hold_only_0_and_1(tmp_path):
    spec = evsim.load_spec(write(tmp_path, "b.yaml", FRAMES.replace("values: integer", "values: binary")))
    with pytest.raises(InputError, match="other than 0 and 1"):
        evsim.load(spec, initial_weights(spec, 0)).run(np.full((2, 2, 4, 4), 2))


@pytest.mark.parametrize("option", ["eps: .nan", "eps: .inf"])
def test_3_nan_or_inf_batchnorm_eps(tmp_path, option):
    with pytest.raises(SpecError, match=r"bn.*finite"):
        evsim.load_spec(write(tmp_path, "s.yaml", FRAMES.replace("kind: batchnorm}", f"kind: batchnorm, {option}}}")))


@pytest.mark.parametrize("option", ["tau: .inf", "v_threshold: .nan", "v_reset: -.inf"])
def test_3_nan_or_inf_neuron_parameters(tmp_path, option):
    with pytest.raises(SpecError, match=r":6: layer 'lif'.*finite"):
        evsim.load_spec(write(tmp_path, "s.yaml", FRAMES.replace("kind: lif}", f"kind: lif, {option}}}")))


def test_3_infinite_value_through_an_expression(tmp_path):
    text = FRAMES.replace("layers:", "params: {big: 1.0e+308}\nlayers:").replace("kind: lif}", "kind: lif, v_threshold: '${big*10}'}")
    with pytest.raises(SpecError, match="not a finite number"):
        evsim.load_spec(write(tmp_path, "s.yaml", text))


@pytest.mark.parametrize("rate", [5, -1, float("nan"), float("inf"), True, "0.1", {"events": 0.5, "spikes": 0.1}])
def test_3_rates_given_as_a_dict_are_checked(rate):
    with pytest.raises(ProfileError, match="rate of 'default'"):
        energy.analytic(SMALL, {"default": rate})


def test_3_rates_argument_of_the_wrong_type():
    with pytest.raises(ProfileError, match="rates must be a dict"):
        energy.analytic(SMALL, [0.1])


@pytest.mark.parametrize("entry", ["ac: .inf", "mac: .nan", "ac: -1"])
def test_3_profile_with_a_non_finite_or_negative_price(tmp_path, capsys, entry):
    profile = write(tmp_path, "p.yaml", "name: bad\ncitation: x\nprovenance: modelled\nenergy_pj: {ac: 0.9, mac: 4.6}\n")
    profile.write_text(profile.read_text().replace("ac: 0.9" if entry.startswith("ac") else "mac: 4.6", entry))
    fail(capsys, "energy", SMALL, "--rates", RATES, "--profile", profile, says="energy of")


def test_3_profile_with_a_zero_width_memory_word(tmp_path, capsys):
    text = (MODELS.parent / "energy" / "profiles" / "lemaire-memory-fp32.yaml").read_text()
    profile = write(tmp_path, "p.yaml", text.replace("word_bits: 32", "word_bits: 0"))
    fail(capsys, "energy", SMALL, "--rates", RATES, "--profile", profile, says="word_bits")


def test_3_input_that_overflows_float32(small_net):
    with pytest.raises(InputError, match="overflow float32"):
        small_net.run(np.full(small_net.spec.input.shape, 1e300), dtype=np.float32)


# -- 4. exhaustion ---------------------------------------------------------------------------------------

def timed(seconds, function, *args):
    """The error, within a bound far above a normal parse (10 s: a loaded 2-core machine took
    over 2 s once) and far below what the bombs would take unguarded (minutes to hours)."""
    start = time.perf_counter()
    with pytest.raises(EvsimError) as info:
        function(*args)
    assert time.perf_counter() - start < seconds
    return str(info.value)


def test_4_yaml_alias_bomb(tmp_path):
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"] + \
            [f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}]"
             for i in range(1, 9)]
    bomb = write(tmp_path, "bomb.yaml", "\n".join(lines) + "\n")
    assert bomb.stat().st_size < 1500
    assert "expands to more than" in timed(10, evsim.load_spec, bomb)


def test_4_yaml_alias_bomb_as_rates(tmp_path):
    lines = ["a0: &a0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"] + [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    bomb = write(tmp_path, "rates.yaml", "\n".join(lines) + "\n")
    with pytest.raises(ProfileError, match="expands to more than"):
        energy.analytic(SMALL, bomb)


def test_4_recursive_alias(tmp_path):
    assert "contains it" in timed(10, evsim.load_spec, write(tmp_path, "r.yaml", "a: &a [1, *a]\n"))


def test_4_deep_nesting(tmp_path):
    assert "nest" in timed(10, evsim.load_spec, write(tmp_path, "n.yaml", "[" * 900 + "]" * 900 + "\n"))


def test_4_oversized_yaml(tmp_path):
    big = tmp_path / "big.yaml"
    big.write_text("# " + "x" * (5 << 20) + "\n")
    assert "larger than" in timed(10, evsim.load_spec, big)


def test_4_chained_params_with_large_powers(tmp_path):
    text = FRAMES.replace("layers:", "params: {a: 10, b: '${a**64}', c: '${b**64}', d: '${c**64}', e: '${d**64}'}\nlayers:")
    assert "beyond ±2**53" in timed(10, evsim.load_spec, write(tmp_path, "p.yaml", text))


def test_4_power_tower_in_one_expression(tmp_path):
    text = FRAMES.replace("out_features: 2", "out_features: '${9**9**9**9}'")
    assert "exponents above 64" in timed(10, evsim.load_spec, write(tmp_path, "p.yaml", text))


def test_4_string_repetition_bomb(tmp_path):
    text = FRAMES.replace("layers:", "params: {s: abc}\nlayers:").replace("out_features: 2", "out_features: '${s*100000000}'")
    assert "arithmetic needs numbers" in timed(10, evsim.load_spec, write(tmp_path, "p.yaml", text))


def test_4_many_params_resolve_in_linear_time(tmp_path):
    n = 3000  # each reads the next: a fixed-point loop would need n passes over n params
    params = ", ".join(f"p{i}: '${{p{i + 1}}}'" for i in range(n)) + f", p{n}: 2"
    spec = evsim.load_spec(write(tmp_path, "p.yaml", FRAMES.replace("layers:", f"params: {{{params}}}\nlayers:")
                                 .replace("out_features: 2", "out_features: '${p0}'")))
    assert spec.shapes["head"] == (2,)


def test_4_nested_repeats_are_capped(tmp_path):
    text = ("input: {shape: [4], T: 1}\ntemplates:\n  inner: [{name: l, kind: linear, out_features: 4}]\n"
            "  outer: [{use: inner, name: b, repeat: 10000}]\nlayers:\n  - {use: outer, name: a, repeat: 10000}\n")
    assert "more than" in timed(60, evsim.load_spec, write(tmp_path, "r.yaml", text))


def test_4_billion_wide_layer_is_refused_before_allocating(tmp_path):
    spec = evsim.load_spec(write(tmp_path, "wide.yaml", "input: {shape: [1000], T: 1}\n"
                                 "layers:\n  - {name: huge, kind: linear, out_features: 1000000000}\n"))
    message = timed(5, evsim.synthetic_weights, spec)
    assert "the largest part is the weights (largest: 'huge')" in message


def test_4_billion_wide_layer_from_the_cli(tmp_path, capsys):
    wide = write(tmp_path, "wide.yaml", "input: {shape: [1000], T: 1}\nlayers:\n  - {name: huge, kind: linear, out_features: 1000000000}\n")
    fail(capsys, "run", wide, "--synthetic-rate", "0.2", says="memory budget")


def test_4_batch_memory_counts_every_run(tmp_path, capsys):
    batch = tmp_path / "x.npy"
    np.save(batch, np.zeros((64, 4, 9, 9)))
    err = fail(capsys, "run", SMALL, "--synthetic-rate", "0.2", "--engine", "dense", "--input", batch,
               "--memory-budget", "3MiB", says="batch of 64")
    assert "calibrating" not in err


def test_4_dense_engine_is_guarded(small_net):
    with pytest.raises(MemoryBudgetError, match="over the memory budget"):
        small_net.run(np.zeros(small_net.spec.input.shape), engine="dense", memory_budget_bytes=100_000)


def test_4_analytic_energy_is_guarded(tmp_path, capsys):
    text = ("input: {shape: [4], T: 100000}\ntemplates:\n  b: [{name: l, kind: linear, out_features: 4}, {name: s, kind: lif}]\n"
            "layers:\n  - {use: b, name: a, repeat: 60}\n")
    fail(capsys, "energy", write(tmp_path, "long.yaml", text), "--rates", write(tmp_path, "r.yaml", "default: 0.1\n"),
         "--memory-budget", "500MiB", says="expected operation counts")


def test_4_memory_budget_from_the_environment(small_net, monkeypatch):
    monkeypatch.setenv("EVSIM_MEMORY_BUDGET", "64KiB")
    with pytest.raises(MemoryBudgetError, match="budget of 0.1 MiB"):
        small_net.run(np.zeros(small_net.spec.input.shape))


def test_4_weights_archive_that_unpacks_to_gigabytes(tmp_path, small_net, monkeypatch):
    bomb = tmp_path / "w.npz"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        with archive.open("conv_a.weight.npy", "w", force_zip64=True) as member:
            np.lib.format.write_array_header_1_0(member, {"descr": "<f8", "fortran_order": False, "shape": (1 << 27,)})
            zeros = bytes(1 << 20)
            for _ in range(1 << 10):
                member.write(zeros)
    assert bomb.stat().st_size < 5 << 20
    monkeypatch.setenv("EVSIM_MEMORY_BUDGET", "256MiB")
    with pytest.raises(MemoryBudgetError, match="the weights file as read"):
        evsim.load(small_net.spec, bomb)


def test_4_memory_budget_option_out_of_range(capsys):
    with pytest.raises(SystemExit):
        main(["run", str(SMALL), "--synthetic-rate", "0.2", "--memory-budget", "lots"])
    assert "cannot read the memory size" in capsys.readouterr().err


# -- 6. tracebacks instead of messages ----------------------------------------------------------------------

def test_6_spec_in_latin1(tmp_path, capsys):
    spec = tmp_path / "s.yaml"
    spec.write_bytes(FRAMES.replace("frames", "främe").encode("latin-1"))
    fail(capsys, "info", spec, says="not UTF-8")


def test_6_spec_of_binary_garbage(tmp_path, capsys):
    spec = tmp_path / "s.yaml"
    spec.write_bytes(bytes(range(256)) * 4)
    fail(capsys, "info", spec, says=str(spec))


@pytest.mark.parametrize("text", ["", "---\n", "[]\n", "42\n", "layers: 3\ninput: 2\n", "{a: 1}: 2\n", "? [1, 2]\n: 3\n"])
def test_6_empty_or_malformed_spec(tmp_path, capsys, text):
    fail(capsys, "info", write(tmp_path, "s.yaml", text), says="s.yaml")


@pytest.mark.parametrize("layer", ["{name: x, kind: [lif]}", "{name: [x], kind: lif}", "{use: {a: 1}}",
                                   "{name: x, kind: lif, input: {a: 1}}", "{name: x, kind: lif, inputs: [[a]]}"])
def test_6_unhashable_names_and_kinds(tmp_path, capsys, layer):
    fail(capsys, "info", write(tmp_path, "s.yaml", f"input: {{shape: [4], T: 1}}\nlayers:\n  - {layer}\n"), says="s.yaml")


def test_6_output_that_is_a_list(tmp_path, capsys):
    fail(capsys, "info", write(tmp_path, "s.yaml", FRAMES + "output: [head]\n"), says="output")


def test_6_spec_path_is_a_folder(tmp_path, capsys):
    fail(capsys, "info", tmp_path, says=str(tmp_path))


def test_6_spec_path_with_a_nul(capsys):
    fail(capsys, "info", "models/\0x.yaml", says="the spec must be a path")


def test_6_empty_input_file(tmp_path, capsys):
    (tmp_path / "x.npy").write_bytes(b"")
    fail(capsys, "run", SMALL, "--synthetic-rate", "0.2", "--input", tmp_path / "x.npy", says="cannot read input")


def test_6_archive_given_as_input(tmp_path, capsys):
    np.savez(tmp_path / "x.npz", a=np.zeros(3))
    fail(capsys, "run", SMALL, "--synthetic-rate", "0.2", "--input", tmp_path / "x.npz", says="archive of arrays")


def test_6_pickled_input(tmp_path, capsys):
    np.save(tmp_path / "x.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    fail(capsys, "run", SMALL, "--synthetic-rate", "0.2", "--input", tmp_path / "x.npy", says="cannot read input")


def test_6_empty_batch(tmp_path, capsys):
    np.save(tmp_path / "x.npy", np.zeros((0, 4, 9, 9)))
    fail(capsys, "run", SMALL, "--synthetic-rate", "0.2", "--input", tmp_path / "x.npy", says="input has shape")


def test_6_weights_file_that_is_a_folder(tmp_path, capsys):
    (tmp_path / "w.npz").mkdir()
    fail(capsys, "run", SMALL, "--weights", tmp_path / "w.npz", says="not a regular file")


def test_6_empty_rates_and_profile_files(tmp_path, capsys):
    fail(capsys, "energy", SMALL, "--rates", write(tmp_path, "r.yaml", ""), says="a rates file must be a mapping")
    fail(capsys, "energy", SMALL, "--rates", RATES, "--profile", write(tmp_path, "p.yaml", ""),
         says="a profile must be a mapping")


def test_6_rates_file_not_utf8(tmp_path, capsys):
    (tmp_path / "r.yaml").write_bytes(b"default: 0.1 \xff\xfe\n")
    fail(capsys, "energy", SMALL, "--rates", tmp_path / "r.yaml", says="not UTF-8")


@pytest.mark.parametrize("call,says", [
    (lambda net: evsim.load(123), "the spec must be a path"),
    (lambda net: evsim.load(SMALL, weights=[1, 2]), "weights must be a dict"),
    (lambda net: evsim.load(SMALL, weights={"conv_a": 3}), "missing 43 weight(s)"),
    (lambda net: evsim.load(SMALL, weights={"conv_a": {"weight": 1}, "bn_a": 2}), "{layer: {parameter: array}}"),
    (lambda net: net.run(np.zeros((4, 9, 9)), engine=["event"]), "unknown engine"),
    (lambda net: net.run(np.zeros((4, 9, 9)), dtype="int8"), "not supported"),
    (lambda net: net.run(np.zeros((4, 9, 9)), dtype=object()), "not a NumPy dtype"),
    (lambda net: net.run("x.npy"), "the input is a path"),
    (lambda net: net.run(np.zeros((4, 9, 9), dtype=complex)), "not numeric"),
    (lambda net: net.run_many([np.zeros((4, 9, 9)), np.zeros(3)], engine="dense"), "input has shape"),
    (lambda net: evsim.synthetic_weights(net.spec, seed=-1), "'seed' must be between"),
    (lambda net: evsim.synthetic_weights(net.spec, seed=1.5), "'seed' must be an integer"),
    (lambda net: evsim.synthetic_weights(net.spec, target_rate=float("nan")), "finite number"),
    (lambda net: evsim.sample_input(net.spec, seed="a"), "'seed' must be an integer"),
    (lambda net: energy.estimate({"x": 1}, "horowitz45-fp32", "dense"), "takes a Run"),
    (lambda net: energy.estimate(3, "horowitz45-fp32"), "takes a Run"),
    (lambda net: energy.load_profile(5), "a profile is a shipped name"),
    (lambda net: energy.analytic(SMALL, {"default": 0.1}, convention="exactly"), "unknown convention"),
    (lambda net: net.save_weights(7), "non-empty file name"),
])
def test_6_bad_api_arguments(small_net, call, says):
    with pytest.raises(EvsimError, match=None if not says else __import__("re").escape(says)):
        call(small_net)


@pytest.mark.parametrize("option,value,says", [
    ("--seed", "-1", "'seed' must be between"), ("--seed", "1e3", "is not an integer"),
    ("--synthetic-rate", "nan", "finite number"), ("--synthetic-rate", "1.5", "must be in (0, 1)"),
    ("--synthetic-rate", "0", "must be in (0, 1)"), ("--memory-budget", "5XB", "cannot read the memory size"),
])
def test_6_out_of_range_cli_numbers(capsys, option, value, says):
    with pytest.raises(SystemExit) as exit_info:
        main(["run", str(SMALL), option, value])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and says in err and "Traceback" not in err


def test_6_export_of_a_spec_not_in_the_official_layout(tmp_path, capsys, small_net):
    pytest.importorskip("torch")
    small_net.save_weights(tmp_path / "w.npz")
    fail(capsys, "export", SMALL, tmp_path / "w.npz", "--variant", "cifar", "-o", tmp_path / "o.pth",
         says="not in the official Spikformer layout")
    assert not (tmp_path / "o.pth").exists()


def test_6_export_with_the_wrong_variant(tmp_path, capsys, checkpoint):
    good, _ = checkpoint
    out = tmp_path / "imported"
    assert cli(capsys, *import_args(good, out))[0] == 0
    fail(capsys, "export", out / "model.yaml", out / "weights.safetensors", "--variant", "imagenet", "-o", tmp_path / "o.pth",
         says="not in the official Spikformer imagenet layout")


def test_6_ctrl_c_during_a_run_keeps_earlier_outputs(tmp_path, capsys, previous, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(evsim.Network, "run_many", interrupted)
    before = snapshot(*previous.values())
    code, _, err = cli(capsys, "run", SMALL, "--synthetic-rate", "0.2", "--save-output", previous["prev.npy"],
                       "--save-spikes", previous["prev.npz"])
    assert code == 130 and err.rstrip().endswith("evsim: interrupted — outputs are written whole or not at all")
    assert snapshot(*previous.values()) == before and len(list(tmp_path.iterdir())) == len(previous)


def test_6_ctrl_c_while_writing_the_second_output_commits_neither(tmp_path, capsys, previous, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(np, "savez_compressed", interrupted)  # the spikes writer, after the output was staged
    before = snapshot(*previous.values())
    code, _, _ = cli(capsys, "run", SMALL, "--synthetic-rate", "0.2", "--engine", "dense", "--save-output",
                     previous["prev.npy"], "--save-spikes", previous["prev.npz"])
    assert code == 130 and snapshot(*previous.values()) == before and len(list(tmp_path.iterdir())) == len(previous)


def test_6_failure_after_the_run_keeps_earlier_outputs(tmp_path, capsys, previous, monkeypatch):
    import energy.report
    def broken(self, fmt):
        raise EvsimError("cannot render")
    monkeypatch.setattr(energy.report.EnergyReport, "render", broken)
    before = snapshot(*previous.values())
    fail(capsys, "energy", SMALL, "--rates", RATES, "--output", previous["prev.txt"],
         "--plot", previous["prev.png"], says="cannot render")
    assert snapshot(*previous.values()) == before


def test_6_a_bug_is_one_line_too(capsys, monkeypatch):
    import evsim.cli
    monkeypatch.setattr(evsim.cli, "cmd_info", lambda args: [][1])
    monkeypatch.setattr(evsim.cli, "build_parser", _parser_with(evsim.cli.build_parser, "info", evsim.cli.cmd_info))
    code = main(["info", str(SMALL)])
    err = capsys.readouterr().err
    assert code == 70 and "internal error (IndexError" in err and len(err.strip().splitlines()) == 1


def _parser_with(build, command, function):
    def patched():
        parser = build()
        parser._subparsers._group_actions[0].choices[command].set_defaults(func=function)
        return parser
    return patched
