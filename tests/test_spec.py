"""Specs: the paper's parameter counts, closed-form operation counts, and one specific
error for each class of bad spec."""

import pytest

from evsim import SpecError, load_spec
from evsim.cli import main

from conftest import MODELS, write_spec

PAPER_PARAMS_M = {
    "spikformer-imagenet-8-384": 16.81, "spikformer-imagenet-6-512": 23.37, "spikformer-imagenet-8-512": 29.68,
    "spikformer-imagenet-10-512": 36.01, "spikformer-imagenet-8-768": 66.34,
    "spikformer-cifar10-4-256": 4.15, "spikformer-cifar10-2-384": 5.76, "spikformer-cifar10-4-384": 9.32,
}


@pytest.mark.parametrize("name,millions", PAPER_PARAMS_M.items())
def test_parameter_counts_match_the_paper(name, millions):
    spec = load_spec(MODELS / f"{name}.yaml")
    assert abs(spec.param_count / 1e6 - millions) <= 0.02


def test_token_counts_and_configurations():
    imagenet = load_spec(MODELS / "spikformer-imagenet-8-512.yaml")
    assert imagenet.shapes["patch_embed.tokens"] == (196, 512)
    assert imagenet.layers["block.0.attn.ssa"].order == "kv_first"
    assert imagenet.shapes["head"] == (1000,) and imagenet.input.T == 4
    cifar = load_spec(MODELS / "spikformer-cifar10-4-384.yaml")
    assert cifar.shapes["patch_embed.tokens"] == (64, 384) and cifar.layers["block.3.attn.ssa"].heads == 12
    dvs = load_spec(MODELS / "spikformer-cifar10dvs-2-256.yaml")
    assert dvs.input.T == 16 and dvs.input.shape == (2, 128, 128) and dvs.input.encoding == "frames"
    assert dvs.layers["block.1.attn.ssa"].scale == 0.25 and dvs.shapes["patch_embed.tokens"] == (64, 256)
    assert load_spec(MODELS / "spikformer-cifar100-4-384.yaml").shapes["head"] == (100,)
    # SEW residuals carry integer spike counts into every block
    assert cifar.values["block.0.attn_residual"] == "integer" and cifar.values["patch_embed.rpe_residual"] == "integer"


def test_first_conv_of_imagenet_8_512_is_0_347_gmacs_over_t():
    spec = load_spec(MODELS / "spikformer-imagenet-8-512.yaml")
    # closed form: H·W·C_out·C_in·k² per step, times T
    assert spec.dense_ops("patch_embed.proj_conv") == 224 * 224 * 64 * 3 * 9
    assert spec.dense_ops("patch_embed.proj_conv") * spec.input.T / 1e9 == pytest.approx(0.347, abs=5e-4)


def test_linear_and_attention_dense_ops_closed_forms():
    spec = load_spec(MODELS / "spikformer-imagenet-8-512.yaml")
    N, D, h = 196, 512, 8
    assert spec.dense_ops("block.0.attn.q_conv") == N * D * D
    assert spec.dense_ops("block.0.mlp.fc1_conv") == N * D * 4 * D
    assert spec.dense_ops("block.0.attn.ssa") == 2 * N * (D // h) * D          # Kᵀ V, then Q (KᵀV)
    cifar = load_spec(MODELS / "spikformer-cifar10-4-384.yaml")
    assert cifar.dense_ops("block.0.attn.ssa") == 2 * 64 * 64 * 384             # Q Kᵀ, then (QKᵀ) V
    assert cifar.dense_ops("head") == 384 * 10


def test_conv_synapses_exclude_padding():
    spec = load_spec(MODELS / "spikformer-cifar10-4-384.yaml")
    layer = spec.layers["patch_embed.proj_conv"]
    # 3×3, pad 1, 32×32: per axis each position is read by 3 taps except the two edges (2 taps)
    per_axis = 32 * 3 - 2
    assert layer.synapses(spec.in_shapes(layer.name), spec.shapes[layer.name]) == per_axis ** 2 * 3 * 48
    assert spec.dense_ops(layer.name) == 32 * 32 * 9 * 3 * 48


BASE = """name: t
input: {shape: [2, 8, 8], T: 3, encoding: direct}
layers:
  - {name: conv, kind: conv2d, out_channels: 4, kernel_size: 3, padding: 1}
  - {name: lif, kind: lif}
"""


@pytest.mark.parametrize("text,fragments", [
    (BASE.replace("kind: lif", "kind: lfi"), ["spec.yaml:5", "layer 'lif'", "unknown layer kind 'lfi'", "did you mean 'lif'"]),
    (BASE.replace("kind: lif}", "kind: lif, treshold: 2}"), ["spec.yaml:5", "unknown key 'treshold'"]),
    (BASE.replace("out_channels: 4, ", ""), ["spec.yaml:4", "layer 'conv'", "'out_channels' must be a positive int"]),
    (BASE.replace("T: 3", "T: 0"), ["spec.yaml:2", "'T' must be an int between 1"]),
    (BASE.replace("T: 3", "T: four"), ["spec.yaml:2", "'T' must be an int"]),
    (BASE + "  - {name: fc, kind: linear, out_features: 3}\n", ["spec.yaml:6", "layer 'fc'", "expects a vector [D] or tokens [N, D]", "[4, 8, 8]"]),
    (BASE + "  - {name: sum, kind: add, inputs: [lif, input]}\n", ["spec.yaml:6", "all inputs must have one shape"]),
    (BASE.replace("kind: lif}", "kind: lif, input: later}") + "  - {name: later, kind: conv2d, out_channels: 2, input: lif}\n",
     ["form a cycle", "layer 'lif'"]),
    (BASE.replace("kind: lif}", "kind: lif, input: nowhere}"), ["spec.yaml:5", "input 'nowhere' is not a layer"]),
    (BASE.replace("{name: lif, kind: lif}", "{name: lif, kind: lif"), ["spec.yaml", "malformed YAML"]),
    (BASE.replace("out_channels: 4", 'out_channels: "${4*width}"'), ["spec.yaml:4", "unknown parameter 'width'"]),
    (BASE.replace("name: lif", "name: conv"), ["spec.yaml:5", "used twice"]),
    (BASE.replace("shape: [2, 8, 8]", "shape: [2, 8000000, 8000000]"), ["absurdly large"]),
    (BASE.replace("kernel_size: 3, padding: 1", "kernel_size: 30"), ["spec.yaml:4", "too small for kernel"]),
    (BASE.replace("kind: lif}", "kind: lif, v_threshold: high}"), ["spec.yaml:5", "'v_threshold' must be a number"]),
    (BASE.replace("kind: lif}", "kind: lif, decay_input: maybe}"), ["spec.yaml:5", "must be true or false"]),
    (BASE.replace("padding: 1}", "padding: 1, groups: 0}"), ["spec.yaml:4", "'groups' must be ≥ 1"]),
    (BASE.replace("out_channels: 4", 'out_channels: "${4 // 0}"'), ["spec.yaml:4", "cannot compute it"]),
    (BASE.replace("out_channels: 4", 'out_channels: "${2 ** 99999}"'), ["spec.yaml:4", "exponents above 64"]),
])
def test_each_bad_spec_gets_its_own_error(tmp_path, text, fragments):
    path = write_spec(tmp_path, text)
    with pytest.raises(SpecError) as err:
        load_spec(path)
    for fragment in fragments:
        assert fragment in str(err.value)


def test_missing_file_and_cli_error_is_one_line(tmp_path, capsys):
    assert main(["info", str(tmp_path / "nope.yaml")]) == 2
    err = capsys.readouterr().err
    assert "no such spec" in err and "Traceback" not in err and err.count("\n") == 1


def test_templates_repeat_and_extends(tmp_path):
    write_spec(tmp_path, """name: base
input: {shape: [6], T: 2}
params: {D: 4, depth: 2}
templates:
  res:
    - {name: fc, kind: linear, input: $in, out_features: "${D}"}
    - {name: lif, kind: lif}
    - {name: out, kind: add, inputs: [$in, lif]}
layers:
  - {name: stem, kind: linear, out_features: "${D}"}
  - {use: res, name: block, repeat: "${depth}"}
""", "base.yaml")
    path = write_spec(tmp_path, "extends: base.yaml\nname: child\nparams: {depth: 3}\n", "child.yaml")
    spec = load_spec(path)
    assert spec.name == "child"
    assert [n for n in spec.layers if n.endswith(".out")] == ["block.0.out", "block.1.out", "block.2.out"]
    assert spec.layers["block.1.fc"].inputs == ("block.0.out",)
    assert spec.layers["block.2.out"].inputs == ("block.1.out", "block.2.lif")
    assert spec.param_count == 6 * 4 + 4 + 3 * (4 * 4 + 4)


def test_info_prints_units(capsys):
    assert main(["info", str(MODELS / "spikformer-cifar10-4-384.yaml")]) == 0
    out = capsys.readouterr().out
    assert "9.32 M" in out and "dense MACs/step" in out and "G MAC/AC" in out


def test_errors_in_an_extending_file_point_at_that_file(tmp_path):
    write_spec(tmp_path, "name: b\ninput: {shape: [4], T: 2}\nparams: {D: 3}\n"
                         "layers:\n  - {name: fc, kind: linear, out_features: '${D}'}\n", "base.yaml")
    child = write_spec(tmp_path, "extends: base.yaml\n\n\ninput: {shape: [4], T: 0}\n", "child.yaml")
    with pytest.raises(SpecError, match=r"child\.yaml:4: input 'T'"):
        load_spec(child)
    typo = write_spec(tmp_path, "extends: base.yaml\nparams: {D: '${E}'}\n", "typo.yaml")
    with pytest.raises(SpecError, match=r"typo\.yaml:2: unknown parameter 'E'"):
        load_spec(typo)
    derived = write_spec(tmp_path, "extends: base.yaml\nparams: {W: 5, D: '${2 * W}'}\n", "derived.yaml")
    assert load_spec(derived).shapes["fc"] == (10,)
