"""The data evsim's shipped trained models were trained on, prepared exactly as at training
time, so that a demo or a test rebuilds the very images the model was scored on.

``digits``: scikit-learn's handwritten digits (``sklearn.datasets.load_digits``: 1797 grey
8×8 images, 16 grey levels, 10 classes; shipped inside scikit-learn, nothing is downloaded),
for ``models/spikformer-digits.yaml``. Preparation, in order:

1. split: ``train_test_split(test_size=0.25, random_state=0, stratify=labels)`` →
   1347 training and 450 test images, every class in proportion;
2. scale: pixel / 16 → [0, 1], then standardise with the mean and standard deviation of
   every training pixel (one value each, computed here from the training split);
3. upsample 8×8 → 32×32 by nearest neighbour (each pixel becomes a 4×4 block: an exact
   ``np.repeat``, no interpolation to depend on a library's rounding), the CIFAR input size
   of the official Spikformer layout; one (grey) channel.
"""
from __future__ import annotations

import hashlib

import numpy as np

from .errors import EvsimError

DIGITS_SPLITS = ("train", "test")
DIGITS_TEST_FRACTION = 0.25
DIGITS_SPLIT_SEED = 0
DIGITS_UPSAMPLE = 4  # 8 × 4 = 32 pixels a side


def digits(split: str = "test") -> tuple[np.ndarray, np.ndarray]:
    """(images float64 [N, 1, 32, 32], labels int64 [N]) of the digits ``split``
    ("train": 1347 images, "test": 450), prepared as the module docstring says."""
    if split not in DIGITS_SPLITS:
        raise EvsimError(f"unknown digits split '{split}'", fix=f"choose one of {', '.join(DIGITS_SPLITS)}")
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError:
        raise EvsimError("the digits dataset needs scikit-learn", fix="pip install scikit-learn") from None
    data = load_digits()
    pixels = data.images.astype(np.float64) / 16.0
    labels = data.target.astype(np.int64)
    train_x, test_x, train_y, test_y = train_test_split(
        pixels, labels, test_size=DIGITS_TEST_FRACTION, random_state=DIGITS_SPLIT_SEED, stratify=labels)
    mean, std = train_x.mean(), train_x.std()
    images, targets = (train_x, train_y) if split == "train" else (test_x, test_y)
    images = (images - mean) / std
    images = images.repeat(DIGITS_UPSAMPLE, axis=1).repeat(DIGITS_UPSAMPLE, axis=2)
    return np.ascontiguousarray(images[:, None]), np.ascontiguousarray(targets)


def digest(images: np.ndarray, labels: np.ndarray) -> str:
    """sha256 of float64 images and int64 labels: a trained model's metadata records that of
    its test set, so a demo or test can check that ``digits`` still builds the same images."""
    h = hashlib.sha256(np.ascontiguousarray(images, dtype=np.float64).tobytes())
    h.update(np.ascontiguousarray(labels, dtype=np.int64).tobytes())
    return h.hexdigest()
