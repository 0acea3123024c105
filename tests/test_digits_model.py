"""The shipped trained model (models/spikformer-digits.yaml + .safetensors, written by
models/train_digits.py): evsim's event engine scores what its metadata states on the digits
test set that evsim.datasets rebuilds, and in float64 it runs image by image like the official
PyTorch + SpikingJelly model (evsim/importers/torch_spikformer.py) loaded with the exported
weights: same logits (rtol 1e-6), same class, same spike count in every LIF layer."""
import json

import numpy as np
import pytest

import evsim
from evsim.datasets import digest, digits
from evsim.weights import read_metadata

from conftest import MODELS

SPEC = MODELS / "spikformer-digits.yaml"
WEIGHTS = MODELS / "spikformer-digits.safetensors"
FAST_IMAGES = 60  # the default run's share of the 450 test images; all of them are marked slow

_runs: dict = {}


@pytest.fixture(scope="module")
def shipped():
    net = evsim.load(SPEC, WEIGHTS)
    images, labels = digits("test")
    return net, read_metadata(WEIGHTS), images, labels


def event_run(net, images, i):
    """(logits, {LIF layer: spike count}) of test image i on the event engine, float64; each
    image runs once per session, whichever test asks first."""
    if i not in _runs:
        run = net.run(images[i], engine="event")
        _runs[i] = (run.output, {layer: int(s.sum()) for layer, s in run.spikes.items()})
    return _runs[i]


def test_shipped_files_and_metadata(shipped):
    net, meta, images, labels = shipped
    assert WEIGHTS.stat().st_size < 2_000_000
    assert meta["test_images"] == str(len(labels)) == "450"
    assert meta["test_set_sha256"] == digest(images, labels), \
        "evsim.datasets.digits('test') no longer builds the images the model was scored on"
    assert int(meta["test_correct"]) / len(labels) == pytest.approx(float(meta["test_accuracy"]), abs=1e-6)
    assert float(meta["test_accuracy"]) > 0.9
    assert len(meta["test_predictions"]) == len(labels)
    assert (np.array([int(c) for c in meta["test_predictions"]]) == labels).sum() == int(meta["test_correct"])
    settings = json.loads(meta["training"])
    assert settings["D"] == net.spec.shapes["patch_embed.tokens"][1] and settings["T"] == net.spec.input.T == 4
    assert {"seed", "date", "training_seconds"} <= set(meta)
    assert f"{100 * float(meta['test_accuracy']):.2f} %" in net.spec.description
    assert net.spec.input.shape == (1, 32, 32) and images.shape == (450, 1, 32, 32)


def check_predictions(shipped, count):
    """evsim's classes on the first ``count`` test images are those recorded at training
    time (PyTorch, float64), and score at least the recorded accuracy on them."""
    net, meta, images, labels = shipped
    predicted = np.array([np.argmax(event_run(net, images, i)[0]) for i in range(count)])
    recorded = np.array([int(c) for c in meta["test_predictions"][:count]])
    assert np.array_equal(predicted, recorded), f"classes differ on test images {np.flatnonzero(predicted != recorded)}"
    return (predicted == labels[:count]).mean(), (recorded == labels[:count]).mean()


def test_event_engine_predicts_the_recorded_classes(shipped):
    accuracy, recorded = check_predictions(shipped, FAST_IMAGES)
    assert accuracy >= recorded


@pytest.mark.slow
def test_event_engine_scores_the_stated_accuracy(shipped):
    accuracy, _ = check_predictions(shipped, len(shipped[3]))
    stated = float(shipped[1]["test_accuracy"])
    assert accuracy >= stated, f"evsim's event engine: {accuracy:.4f}, the weights' metadata: {stated:.4f}"


def official_runs(net, images):
    """(logits [N, classes], {LIF layer: spike count over the images}) of the official model
    built from evsim/importers/torch_spikformer.py with the exported weights, float64."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("spikingjelly")
    from spikingjelly.clock_driven import functional

    from evsim.importers.spikformer import export_state_dict
    from evsim.importers.torch_spikformer import Spikformer
    spec = net.spec
    depth = len({layer.split(".")[1] for layer in spec.layers if layer.startswith("block.")})
    model = Spikformer("cifar", spec.shapes["patch_embed.tokens"][1], spec.layers["block.0.attn.ssa"].heads, depth,
                       spec.shapes["head"][0], spec.input.shape[0], spec.input.shape[1], spec.input.T).double().eval()
    model.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in
                           export_state_dict(spec, net.params, "cifar").items()}, strict=True)
    counts: dict = {}
    hooks = [module.register_forward_hook(
        lambda mod, inp, out, name=name: counts.__setitem__(name, counts.get(name, 0) + int(out.sum())))
        for name, module in model.named_modules() if type(module).__name__ == "MultiStepLIFNode"]
    logits, threads = [], torch.get_num_threads()
    torch.set_num_threads(1)  # on a shared 2-core machine one thread is faster than two (17 s against 26 s here)
    try:
        with torch.no_grad():
            for start in range(0, len(images), 150):
                functional.reset_net(model)
                logits.append(model(torch.from_numpy(images[start:start + 150])).numpy())
    finally:
        torch.set_num_threads(threads)
        for hook in hooks:
            hook.remove()
    return np.concatenate(logits), counts


def check_agreement(shipped, count):
    net, _, images, _ = shipped
    official_logits, official_counts = official_runs(net, images[:count])
    runs = [event_run(net, images, i) for i in range(count)]
    logits = np.stack([output for output, _ in runs])
    assert np.array_equal(logits.argmax(1), official_logits.argmax(1)), \
        f"classes differ on images {np.flatnonzero(logits.argmax(1) != official_logits.argmax(1))}"
    assert np.allclose(logits, official_logits, rtol=1e-6, atol=1e-9)
    assert set(official_counts) == set(runs[0][1])
    for layer, spikes in official_counts.items():
        assert sum(c[layer] for _, c in runs) == spikes, layer


def test_event_engine_runs_like_spikingjelly(shipped):
    check_agreement(shipped, FAST_IMAGES)


@pytest.mark.slow
def test_event_engine_runs_like_spikingjelly_on_every_test_image(shipped):
    check_agreement(shipped, len(shipped[3]))
