"""Official Spikformer checkpoints: imported, they run spike for spike like the official
PyTorch + SpikingJelly model (evsim/importers/torch_spikformer.py) in float64."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("spikingjelly")

from spikingjelly.clock_driven import functional  # noqa: E402

import energy  # noqa: E402
import evsim  # noqa: E402
from evsim import WeightsError, load_spec  # noqa: E402
from evsim.cli import main  # noqa: E402
from evsim.importers.spikformer import export_state_dict, read_state_dict  # noqa: E402
from evsim.importers.torch_spikformer import Spikformer  # noqa: E402

from conftest import MODELS, perturbed_weights, write_spec  # noqa: E402

BASE = {"cifar": "spikformer-cifar10-4-384", "imagenet": "spikformer-imagenet-8-512", "dvs": "spikformer-cifar10dvs-2-256"}


def official_model(tmp_path, variant, dim, heads, depth, size, seed=0, rate=0.15):
    """An official-architecture model whose weights are random with randomised BN statistics,
    calibrated so that every LIF layer fires; returns (torch model, its checkpoint path)."""
    channels, T = (2, 16) if variant == "dvs" else (3, 4)
    encoding = "frames, values: integer" if variant == "dvs" else "direct"
    spec = load_spec(write_spec(tmp_path, f"extends: {MODELS / BASE[variant]}.yaml\n"
                                          f"input: {{shape: [{channels}, {size}, {size}], T: {T}, encoding: {encoding}}}\n"
                                          f"params: {{depth: {depth}, D: {dim}, heads: {heads}}}\n", "source.yaml"))
    params = perturbed_weights(spec, seed, rate)
    model = Spikformer(variant, dim, heads, depth, spec.shapes["head"][0], channels, size, T).double().eval()
    model.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in export_state_dict(spec, params, variant).items()},
                          strict=True)
    path = tmp_path / "checkpoint.pth.tar"
    torch.save({"state_dict": {f"module.{k}": v for k, v in model.state_dict().items()}}, path)  # a DataParallel checkpoint
    return model, path


def run_official(model, variant, x):
    spikes = {}
    hooks = [m.register_forward_hook(lambda mod, i, o, name=name: spikes.__setitem__(name, o.detach().numpy()))
             for name, m in model.named_modules() if type(m).__name__ == "MultiStepLIFNode"]
    functional.reset_net(model)
    with torch.no_grad():
        batch = torch.from_numpy(x)[None] if variant != "dvs" else torch.from_numpy(x)[:, None]
        logits = model(batch).numpy()[0]
    for hook in hooks:
        hook.remove()
    return logits, spikes


def import_cli(tmp_path, checkpoint, variant, heads, size, T):
    out = tmp_path / "imported"
    assert main(["import", "spikformer", str(checkpoint), "--variant", variant, "--heads", str(heads),
                 "--img-size", str(size), "--T", str(T), "-o", str(out)]) == 0
    return evsim.load(out / "model.yaml", out / "weights.safetensors")


@pytest.mark.parametrize("variant,size", [("cifar", 32), ("imagenet", 64), ("dvs", 64)])
def test_imported_model_runs_like_spikingjelly(tmp_path, variant, size):
    model, checkpoint = official_model(tmp_path, variant, dim=64, heads=4, depth=2, size=size)
    T = 16 if variant == "dvs" else 4
    net = import_cli(tmp_path, checkpoint, variant, 4, size, T)
    assert net.spec.layers["block.0.attn.ssa"].order == ("kv_first" if variant == "imagenet" else "qk_first")
    x = evsim.sample_input(net.spec, seed=7)
    logits, official_spikes = run_official(model, variant, x)
    for engine in ("dense", "event"):
        run = net.run(x, engine=engine)
        assert np.allclose(run.output, logits, rtol=1e-6, atol=1e-9)
        assert set(run.spikes) == set(official_spikes)
        for name, spikes in official_spikes.items():
            assert spikes.sum() == run.spikes[name].sum(), (engine, name)
            assert spikes.sum() > 0, f"{name} must fire for the comparison to mean anything"


@pytest.mark.slow
def test_full_spikformer_4_384_cifar10(tmp_path):
    model, checkpoint = official_model(tmp_path, "cifar", dim=384, heads=12, depth=4, size=32)
    net = import_cli(tmp_path, checkpoint, "cifar", 12, 32, 4)
    assert net.param_count == load_spec(MODELS / "spikformer-cifar10-4-384.yaml").param_count
    x = evsim.sample_input(net.spec, seed=3)
    logits, official_spikes = run_official(model, "cifar", x)
    run = net.run(x, engine="event")
    assert np.allclose(run.output, logits, rtol=1e-6, atol=1e-9)
    for name, spikes in official_spikes.items():
        assert spikes.sum() == run.spikes[name].sum() > 0, name
    sj_sops = spikingjelly_style_sops(model, "cifar", x)
    paper = energy.estimate(run, convention="paper")
    exact = energy.estimate(run, convention="exact", count_bias=False)
    synaptic = [r for r in paper.rows if r.kind in ("conv2d", "linear") and r.mac == 0]
    # firing rate × FLOPs from the official model's own tensors = evsim's paper convention
    assert sum(r.ac for r in synaptic) == pytest.approx(sj_sops, rel=1e-9)
    exact_ac = sum(r.ac for r in exact.rows if r.kind in ("conv2d", "linear") and r.mac == 0)
    print(f"\nSpikformer-4-384 CIFAR-10, random calibrated weights: SpikingJelly-style fr × FLOPs = "
          f"{sj_sops / 1e9:.4f} G SOPs; evsim exact (edge-exact fan-out) = {exact_ac / 1e9:.4f} G SOPs "
          f"({(exact_ac / sj_sops - 1) * 100:+.2f} %), conv/linear layers with spike inputs")
    assert exact_ac < sj_sops, "the padded borders make fr × FLOPs an overestimate"


def spikingjelly_style_sops(model, variant, x):
    """syops-counter style: for every conv/linear fed by spikes, mean input × dense FLOPs."""
    total = [0.0]

    def count(module, inputs, output):
        inp = inputs[0]
        if isinstance(module, torch.nn.Linear):
            flops = output.numel() * module.in_features
        else:
            flops = output.numel() * (module.in_channels // module.groups) * int(np.prod(module.kernel_size))
        total[0] += float(inp.mean()) * flops
    hooks = [m.register_forward_hook(count) for name, m in model.named_modules()
             if isinstance(m, (torch.nn.Conv2d, torch.nn.Conv1d, torch.nn.Linear))
             and name not in ("patch_embed.proj_conv", "head")]
    run_official(model, variant, x)
    for hook in hooks:
        hook.remove()
    return total[0]


def test_export_import_round_trip(tmp_path):
    spec = load_spec(MODELS / "spikformer-cifar10dvs-2-256.yaml")
    params = perturbed_weights(load_spec(write_spec(tmp_path, f"extends: {MODELS}/spikformer-cifar10dvs-2-256.yaml\n"
                                                               "input: {shape: [2, 32, 32], T: 2, encoding: frames, values: integer}\n")), 0, 0.2)
    weights = tmp_path / "w.safetensors"
    evsim.weights.save(params, weights)
    ckpt = tmp_path / "official.pth"
    assert main(["export", str(MODELS / "spikformer-cifar10dvs-2-256.yaml"), str(weights), "--variant", "dvs", "-o", str(ckpt)]) == 0
    state = read_state_dict(ckpt)
    assert state["block.0.attn.q_conv.weight"].shape == (256, 256, 1) and "pos_embed" in state
    net = import_cli(tmp_path, ckpt, "dvs", 16, 128, 16)
    for layer, entry in params.items():
        for key, value in entry.items():
            assert np.array_equal(net.params[layer][key], value)
    assert net.spec.param_count == spec.param_count


def test_import_options_name_dtype_metadata(tmp_path):
    """What models/train_digits.py asks of the importer: a named, described spec with only the
    params that differ from the library's, float32 weights, metadata in the weights file."""
    import yaml

    from evsim.importers.spikformer import LIBRARY_DEFAULTS, import_checkpoint
    library = yaml.safe_load((MODELS.parent / "evsim" / "spec" / "library" / "spikformer.yaml").read_text())
    assert {k: library["params"][k] for k in LIBRARY_DEFAULTS} == LIBRARY_DEFAULTS
    model, checkpoint = official_model(tmp_path, "cifar", dim=32, heads=2, depth=1, size=32)
    spec, _ = import_checkpoint(checkpoint, "cifar", 2, tmp_path / "out", name="tiny", stem="tiny",
                                description="a tiny model: 1 block", comment="line one\nline two",
                                dtype=np.float32, metadata={"seed": "7"})
    text = (tmp_path / "out" / "tiny.yaml").read_text()
    assert text.startswith("# line one\n# line two\n") and "params: {D: 32, heads: 2, depth: 1, classes: 10}" in text
    assert spec.name == "tiny" and spec.description == "a tiny model: 1 block"
    weights = tmp_path / "out" / "tiny.safetensors"
    assert evsim.weights.read_metadata(weights) == {"seed": "7"}
    assert evsim.weights.read_flat(weights)["head.weight"].dtype == np.float32
    net = evsim.load(spec, weights)
    assert np.array_equal(net.params["head"]["weight"], model.head.weight.detach().numpy().astype(np.float32))


def test_import_errors(tmp_path, capsys):
    _, checkpoint = official_model(tmp_path, "cifar", dim=32, heads=2, depth=1, size=32)
    assert main(["import", "spikformer", str(checkpoint), "--variant", "imagenet", "--heads", "2", "-o", str(tmp_path / "x")]) == 2
    assert "try --variant cifar" in capsys.readouterr().err
    assert main(["import", "spikformer", str(checkpoint), "--variant", "cifar", "--heads", "5", "-o", str(tmp_path / "x")]) == 2
    assert "--heads must divide the embedding dimension 32" in capsys.readouterr().err
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError, match="cannot read checkpoint"):
        read_state_dict(junk)
