"""The main job: `evsim demo` on the shipped trained model over the whole digits test set."""
import numpy as np
import pytest

from evsim.demo import run_demo, shipped_model, summary_lines


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return run_demo(str(tmp_path_factory.mktemp("demo")), progress=False)


def test_predictions_equal_the_pytorch_model_image_by_image(demo):
    """The weights' metadata records the PyTorch model's float64 prediction for every test
    image (models/train_digits.py); the event engine must make exactly the same ones."""
    _, _, metadata = shipped_model()
    torch_predictions = np.array([int(c) for c in metadata["test_predictions"]])
    assert demo["images"] == len(torch_predictions) == 450
    assert np.array_equal(demo["predictions"], torch_predictions)


def test_accuracy_is_at_least_the_stated_figure(demo):
    _, _, metadata = shipped_model()
    assert demo["accuracy"] >= float(metadata["test_accuracy"]) >= 0.97   # the README states 97.33 %
    assert "97.33 %" in open(shipped_model()[0]).read()


def test_images_are_produced_and_not_blank(demo):
    import matplotlib.image
    for name in ("raster.png", "spike_maps.png", "firing_rates.png", "energy.png", "membrane.png"):
        image = matplotlib.image.imread(demo["output"] / name)
        assert image.shape[0] > 100 and image.shape[1] > 100, name
        assert image[..., :3].std() > 0.05, f"{name} is blank"
    report = (demo["output"] / "report.md").read_text()
    assert "accuracy: 97.33%" in report and "mJ" not in report.split("## Versions")[1]
    assert (demo["output"] / "rates.yaml").read_text().startswith("# measured firing rates")


def test_summary_names_units_and_conventions(demo):
    text = "\n".join(summary_lines(demo))
    assert "spikes per neuron per step" in text and "µJ" in text
    assert "paper  convention" in text and "exact  convention" in text and "lemaire-memory" in text
    assert "the same prediction as the PyTorch model on 450 of 450 images" in text
    rates = demo["rates"]
    assert 0 < min(rates.values()) and max(rates.values()) < 0.5 and len(rates) == 19
