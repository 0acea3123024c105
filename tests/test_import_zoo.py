"""Official Spikingformer and Spike-Driven Transformer (SDT v1) checkpoints: imported with
`evsim import spikingformer|sdt`, they run spike for spike like the official architectures in
PyTorch + SpikingJelly (evsim/importers/torch_spikingformer.py, torch_sdt.py) in float64 —
every LIF layer element for element, on the dense and the event engine."""
import argparse

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("spikingjelly")

from spikingjelly.clock_driven import functional  # noqa: E402

import evsim  # noqa: E402
from evsim import WeightsError, load_spec  # noqa: E402
from evsim.cli import main  # noqa: E402
from evsim.importers import torch_sdt, torch_spikingformer  # noqa: E402
from evsim.importers.spike_driven import FAMILIES, fits, import_checkpoint, variants  # noqa: E402

from conftest import MODELS, perturbed_weights, write_spec  # noqa: E402


def official_module(family, spec):
    if family == "sdt":
        return torch_sdt.from_spec(spec, num_heads=4)
    return torch_spikingformer.from_spec(spec)


def official_checkpoint(tmp_path, family, spec, seed=0, rate=0.15):
    """The official module with random weights (calibrated so every LIF layer fires, BatchNorm
    running statistics randomised, the keys the official code never calls random too), saved as
    the official training script (timm's CheckpointSaver) saves it; returns (module, path)."""
    model = official_module(family, spec)
    flat = evsim.weights.flatten(perturbed_weights(spec, seed, rate))
    rng = np.random.default_rng(seed + 7)
    state = {}
    for key, value in model.state_dict().items():
        if key in flat:
            state[key] = torch.from_numpy(flat.pop(key).reshape(value.shape))
        elif value.is_floating_point():
            assert FAMILIES[family].unused.search(key), key
            state[key] = torch.from_numpy(rng.normal(1.0, 0.5, value.shape))
        else:
            state[key] = value
    assert not flat, f"evsim parameters without an official key: {sorted(flat)[:3]}"
    model.load_state_dict(state, strict=True)
    path = tmp_path / "checkpoint-284.pth.tar"
    torch.save({"epoch": 284, "arch": family, "version": 2, "metric": 74.5,
                "args": argparse.Namespace(model=family, dim=spec.shapes["patch_embed.tokens"][1], amp=True),
                "state_dict": {f"module.{k}": v for k, v in model.state_dict().items()},
                "optimizer": {"state": {}, "param_groups": [{"lr": 1e-3, "params": [0, 1]}]}}, path)
    return model, path


def run_official(model, x):
    """Logits and every called LIF node's spikes, by module name."""
    spikes = {}
    hooks = [m.register_forward_hook(lambda mod, i, o, name=name: spikes.__setitem__(name, o.detach().numpy()))
             for name, m in model.named_modules() if type(m).__name__ == "MultiStepLIFNode"]
    functional.reset_net(model)
    with torch.no_grad():
        logits = model(torch.from_numpy(x)[None]).numpy()[0]
    for hook in hooks:
        hook.remove()
    return logits, spikes


def as_evsim(name, official, shape):
    """An official LIF output [T, B=1, …] in evsim's per-step layout ``shape``: maps [C, H, W]
    as they are; tokens [N, C] from the official channel-first [C, H, W] or [C, N]; SDT's
    talking_heads_lif [heads, 1, C/heads] → [1, C]."""
    a = official[:, 0]
    T = a.shape[0]
    if name.endswith("talking_heads_lif"):
        return a.transpose(0, 2, 1, 3).reshape(T, 1, -1)
    if len(shape) == 2:
        return a.reshape(T, shape[1], -1).transpose(0, 2, 1)
    return a


def shrunk(tmp_path, model, size, depth, dim, heads=None):
    params = f"depth: {depth}, D: {dim}" + (f", heads: {heads}" if heads else "")
    base = load_spec(MODELS / f"{model}.yaml")
    text = (f"extends: {MODELS / model}.yaml\n"
            f"input: {{shape: [3, {size}, {size}], T: {base.input.T}, encoding: direct}}\n"
            f"params: {{{params}}}\n")
    return write_spec(tmp_path, text, f"{model}-tiny.yaml")


# (family, shipped configuration, image size, depth, width, heads): CIFAR tokens 8×8, ImageNet 4×4
CASES = [("spikingformer", "cifar10-4-256", 32, 2, 96, 4, 0.15), ("spikingformer", "imagenet-8-384", 64, 1, 64, 4, 0.2),
         ("sdt", "cifar10-2-256", 32, 2, 96, None, 0.15), ("sdt", "imagenet-8-384", 64, 1, 64, None, 0.2)]


@pytest.mark.parametrize("family,config,size,depth,dim,heads,rate", CASES)
def test_imported_checkpoint_runs_spike_for_spike(tmp_path, family, config, size, depth, dim, heads, rate):
    variant = shrunk(tmp_path, f"{family}-{config}", size, depth, dim, heads)
    spec = load_spec(variant)
    model, checkpoint = official_checkpoint(tmp_path, family, spec, seed=depth, rate=rate)
    out = tmp_path / "imported"
    assert main(["import", family, str(checkpoint), "--variant", str(variant), "-o", str(out)]) == 0
    net = evsim.load(out / "model.yaml", out / "weights.safetensors")
    assert net.spec.param_count == spec.param_count
    x = evsim.sample_input(net.spec, seed=5)
    logits, official = run_official(model, x)
    lifs = {name for name, layer in net.spec.layers.items() if layer.kind == "lif"}
    assert set(official) == lifs   # every LIF the official forward calls, and no other
    for engine in ("dense", "event"):
        run = net.run(x, engine=engine)
        assert set(run.spikes) == lifs
        for name in sorted(lifs):
            ours = run.spikes[name]
            theirs = as_evsim(name, official[name], net.spec.shapes[name])
            assert theirs.shape == ours.shape, (name, theirs.shape, ours.shape)
            assert np.array_equal(theirs, ours), f"{engine}: {name}: {int((theirs != ours).sum())} spikes differ"
            assert 0 < ours.sum() < ours.size, f"{name} must fire, and not everywhere, for the comparison to mean anything"
        assert np.max(np.abs(run.output - logits)) <= 1e-9, engine


@pytest.mark.parametrize("family", FAMILIES)
def test_every_shipped_variant_is_an_official_layout(family):
    """Each models/ spec of the family has exactly the keys and shapes of the official module
    of that configuration (built on the meta device: shapes without memory), so its official
    checkpoints import; and no other shipped spec (of either family) takes them."""
    shipped = {(f, v): load_spec(f"{f}-{v}") for f in FAMILIES for v in variants(f)}
    for config in variants(family):
        with torch.device("meta"):
            model = official_module(family, shipped[family, config])
        state = {key: np.broadcast_to(np.zeros(()), value.shape) for key, value in model.state_dict().items()}
        found = [(f, v) for (f, v), spec in shipped.items() if fits(state, spec, f)]
        assert found == [(family, config)], (config, found)


@pytest.mark.parametrize("family,config", [("spikingformer", "cifar10-4-256"), ("sdt", "cifar10-2-256")])
def test_shipped_variant_round_trip(tmp_path, family, config):
    """--variant by a shipped configuration: every official tensor arrives unchanged (linears
    squeezed from Conv1d/Conv2d), the spec is the shipped one under a new name."""
    shipped = load_spec(f"{family}-{config}")
    model = official_module(family, shipped)
    path = tmp_path / "official.pth"
    torch.save(model.state_dict(), path)
    out = tmp_path / "out"
    assert main(["import", family, str(path), "--variant", config, "--T", "2", "-o", str(out)]) == 0
    net = evsim.load(out / "model.yaml", out / "weights.safetensors")
    assert net.spec.name == f"{family}-{config}-imported" and net.spec.input.T == 2
    assert net.spec.param_count == shipped.param_count and net.spec.shapes == shipped.shapes
    for key, value in model.state_dict().items():
        layer, _, name = key.rpartition(".")
        if FAMILIES[family].unused.search(key):
            assert layer not in net.params or name not in net.params[layer], key
        else:
            assert np.array_equal(net.params[layer][name], value.numpy().reshape(net.params[layer][name].shape)), key


def test_spikingformer_heads_override(tmp_path):
    shipped = load_spec("spikingformer-cifar10-2-384")
    path = tmp_path / "official.pth"
    torch.save(official_module("spikingformer", shipped).state_dict(), path)
    spec, ignored = import_checkpoint("spikingformer", path, "spikingformer-cifar10-2-384", tmp_path / "out", heads=6)
    assert spec.layers["block.0.attn.ssa"].heads == 6
    assert ignored and all(FAMILIES["spikingformer"].unused.search(k) for k in ignored)


@pytest.fixture(scope="module")
def sdt_checkpoint(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sdt")
    model = official_module("sdt", load_spec("sdt-cifar10-2-256"))
    path = tmp / "sdt.pth"
    torch.save(model.state_dict(), path)
    return path, {k: v.clone() for k, v in model.state_dict().items()}


def one_line_error(capsys, argv):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err, err
    return err


def test_wrong_checkpoint_errors(tmp_path, capsys, sdt_checkpoint):
    path, state = sdt_checkpoint
    out = str(tmp_path / "out")
    # the wrong width: the key, the variant, and the variant the checkpoint does fit
    err = one_line_error(capsys, ["import", "sdt", str(path), "--variant", "cifar10-2-512", "-o", out])
    assert "'patch_embed.proj_conv.weight' has shape [32, 3, 3, 3]" in err and "--variant cifar10-2-512" in err
    assert "the checkpoint fits 'evsim import sdt … --variant cifar10-2-256'" in err
    # the wrong family
    err = one_line_error(capsys, ["import", "spikingformer", str(path), "--variant", "cifar10-4-256", "-o", out])
    assert "has no place in the spikingformer-cifar10-4-256 spec (--variant cifar10-4-256)" in err
    assert "'evsim import sdt … --variant cifar10-2-256'" in err
    # a key missing, a key too many
    for edit, expected in [(lambda s: s.pop("block.1.mlp.fc2_bn.running_var"), "no 'block.1.mlp.fc2_bn.running_var'"),
                           (lambda s: s.__setitem__("block.2.attn.q_conv.weight", s["block.1.attn.q_conv.weight"]),
                            "'block.2.attn.q_conv.weight' has no place in the sdt-cifar10-2-256 spec")]:
        edited = dict(state)
        edit(edited)
        torch.save(edited, tmp_path / "edited.pth")
        err = one_line_error(capsys, ["import", "sdt", str(tmp_path / "edited.pth"), "--variant", "cifar10-2-256", "-o", out])
        assert expected in err and "--variant cifar10-2-256" in err and "no shipped Spike-Driven Transformer variant fits" in err
    assert not (tmp_path / "out").exists(), "a failed import writes nothing"
    err = one_line_error(capsys, ["import", "sdt", str(path), "--variant", "cifar10-9-999", "-o", out])
    assert "unknown sdt variant 'cifar10-9-999'" in err and "cifar10-2-256" in err
    err = one_line_error(capsys, ["import", "sdt", str(path), "-o", out])
    assert "needs --variant" in err
    err = one_line_error(capsys, ["import", "sdt", str(path), "--variant", "cifar10-2-256", "--heads", "8", "-o", out])
    assert "--heads does not apply to sdt" in err
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    err = one_line_error(capsys, ["import", "spikingformer", str(junk), "--variant", "cifar10-4-256", "-o", out])
    assert "cannot read checkpoint" in err
    with pytest.raises(WeightsError, match="no such checkpoint"):
        import_checkpoint("sdt", tmp_path / "absent.pth", "cifar10-2-256", out)
