import os
import sys
from pathlib import Path

if Path(sys.argv[0]).name == "mutmut":
    # mutmut forks a worker per mutant from a process that has run Numba's parallel kernels; the
    # default GNU OpenMP threading layer kills such a child (SIGTERM) at its first parallel call.
    os.environ.setdefault("NUMBA_THREADING_LAYER", "workqueue")

import numpy as np
import pytest

import evsim

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "models"
SPECS = Path(__file__).resolve().parent / "specs"


def write_spec(tmp_path, text, name="spec.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def perturbed_weights(spec, seed, rate):
    """Synthetic weights with randomised BatchNorm running statistics (so folding is
    exercised with non-trivial μ, σ²) — calibrated first so every layer still fires."""
    params = evsim.synthetic_weights(spec, seed=seed, target_rate=rate)
    rng = np.random.default_rng(seed + 1000)
    for entry in params.values():
        if "running_mean" in entry:
            n = entry["running_mean"].shape
            scale = rng.uniform(0.5, 2.0, n)
            shift = rng.normal(0, 0.3, n)
            # same function, different (μ, σ², γ, β): y = γ'(x − μ')/√σ'² + β'
            entry["running_var"] = entry["running_var"] * scale ** 2
            entry["weight"] = entry["weight"] * scale
            entry["running_mean"] = entry["running_mean"] + shift
            entry["bias"] = entry["bias"] + entry["weight"] * shift / np.sqrt(entry["running_var"] + 1e-5)
    return params


@pytest.fixture
def every_kind_path():
    return SPECS / "every_kind.yaml"
