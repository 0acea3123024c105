"""Official QKFormer checkpoints: imported, they run spike for spike like the official architecture in
PyTorch + SpikingJelly (evsim/importers/torch_qkformer.py, CPU backend) in float64 — every LIF layer's
spikes equal element for element, the logits to 1e-6."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("spikingjelly")

from spikingjelly.clock_driven import functional  # noqa: E402

import evsim  # noqa: E402
from evsim import load_spec  # noqa: E402
from evsim.cli import main  # noqa: E402
from evsim.importers.torch_qkformer import QKFormer  # noqa: E402

from conftest import MODELS, perturbed_weights, write_spec  # noqa: E402

BASE = {"imagenet": "qkformer-imagenet-10-384", "cifar": "qkformer-cifar10-4-384", "dvs": "qkformer-cifar10dvs-2-256"}
SMALL = {"imagenet": dict(size=64, depth=4, s2=2), "cifar": dict(size=16, depth=4, s2=1),
         "dvs": dict(size=64, depth=2, s2=None)}


def official_model(tmp_path, variant, dim=64, heads=4, mlp_ratio=2, seed=0, rate=0.15):
    """The official architecture with evsim's calibrated random weights (BN statistics randomised),
    so that every LIF layer fires; returns (torch model, checkpoint path, source spec)."""
    small = SMALL[variant]
    base = load_spec(MODELS / f"{BASE[variant]}.yaml")
    channels, T = base.input.shape[0], base.input.T
    encoding = "frames, values: integer" if variant == "dvs" else "direct"
    spec = load_spec(write_spec(tmp_path, f"extends: {MODELS / BASE[variant]}.yaml\n"
                                          f"input: {{shape: [{channels}, {small['size']}, {small['size']}], T: {T}, "
                                          f"encoding: {encoding}}}\n"
                                          f"params: {{D: {dim}, heads: {heads}, depth: {small['depth']}, "
                                          f"mlp_ratio: {mlp_ratio}, classes: 7}}\n", "source.yaml"))
    params = perturbed_weights(spec, seed, rate)
    model = QKFormer(variant, dim, heads, small["depth"], 7, channels, T, mlp_ratio, small["s2"]).double().eval()
    state = {}
    for key, tensor in model.state_dict().items():
        layer, name = key.rsplit(".", 1)
        value = np.zeros(()) if name == "num_batches_tracked" else np.asarray(params[layer][name]).reshape(tensor.shape)
        state[key] = torch.from_numpy(value).to(tensor.dtype)
    model.load_state_dict(state, strict=True)
    path = tmp_path / "checkpoint.pth"
    torch.save({"model": model.state_dict()}, path)   # as imagenet/save_model.py wraps it
    return model, path, spec


def run_official(model, variant, x):
    spikes = {}
    hooks = [m.register_forward_hook(lambda mod, i, o, name=name: spikes.__setitem__(name, o.detach().numpy()))
             for name, m in model.named_modules() if type(m).__name__ == "MultiStepLIFNode"]
    functional.reset_net(model)
    with torch.no_grad():
        logits = model(torch.from_numpy(x)[None]).numpy()[0]   # [1, C, H, W] images, [1, T, C, H, W] frames
    for hook in hooks:
        hook.remove()
    return logits, spikes


def in_evsim_layout(official, shape):
    """[T, 1, C, H, W], [T, 1, C, N] or [T, 1, heads, 1, N] → evsim's [T, C, H, W] or [T, N, C]."""
    T = official.shape[0]
    if len(shape) == 3:
        return official.reshape(T, *shape)
    n, width = shape
    return official.reshape(T, width, n).transpose(0, 2, 1)


@pytest.mark.slow   # 20–40 s each on 2 shared cores
@pytest.mark.parametrize("variant,heads", [("imagenet", 4), ("cifar", 4), ("dvs", 8)])
def test_imported_qkformer_runs_like_spikingjelly(tmp_path, variant, heads):
    model, checkpoint, source = official_model(tmp_path, variant, heads=heads)
    out = tmp_path / "imported"
    size, T = source.input.shape[-1], source.input.T
    assert main(["import", "qkformer", str(checkpoint), "--variant", variant, "--heads", str(heads),
                 "--img-size", str(size), "--T", str(T), "-o", str(out)]) == 0
    net = evsim.load(out / "model.yaml", out / "weights.safetensors")
    assert net.spec.param_count == source.param_count == sum(p.numel() for p in model.parameters())
    x = evsim.sample_input(net.spec, seed=7)
    logits, official = run_official(model, variant, x)
    for engine in ("dense", "event"):
        run = net.run(x, engine=engine)
        assert np.allclose(run.output, logits, rtol=1e-6, atol=1e-9)
        assert set(run.spikes) == set(official)
        for name, spikes in official.items():
            assert np.array_equal(in_evsim_layout(spikes, net.spec.shapes[name]), run.spikes[name]), (engine, name)
            assert spikes.sum() > 0, f"{name} must fire for the comparison to mean anything"


def test_import_refuses_the_wrong_layout(tmp_path, capsys):
    _, checkpoint, _ = official_model(tmp_path, "cifar")
    out = str(tmp_path / "out")
    assert main(["import", "qkformer", str(checkpoint), "--variant", "imagenet", "--heads", "4", "-o", out]) == 2
    assert "mlp1_conv keys: try --variant cifar" in capsys.readouterr().err   # ImageNet names it fc1_conv
    assert main(["import", "qkformer", str(checkpoint), "--variant", "dvs", "--heads", "4", "-o", out]) == 2
    assert "not the DVS layout" in capsys.readouterr().err
    assert main(["import", "qkformer", str(checkpoint), "--variant", "cifar", "--heads", "5", "-o", out]) == 2
    assert "--heads must divide the first stage's width 16" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
