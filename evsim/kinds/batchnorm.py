"""``batchnorm``: inference-mode batch normalisation over the feature axis (axis 0 of an
image, the last axis of tokens).

    y = γ (x − μ) / √(σ² + ε) + β

Folded into the conv or linear before it at load time when it is that layer's only
consumer (``fold``); otherwise it runs as its own layer.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..spec.layer import ShapeProblem
from ..spec.registry import register
from .base import Passive


@register
@dataclass
class BatchNorm(Passive):
    step_local: ClassVar[bool] = True
    eps: float = 1e-5
    kind: ClassVar[str] = "batchnorm"
    folds_into_producer: ClassVar[bool] = True

    def __post_init__(self):
        if not isinstance(self.eps, (int, float)) or not math.isfinite(self.eps) or self.eps <= 0:
            raise ShapeProblem(f"'eps' must be a positive number, got {self.eps!r}")

    def features(self, shape):
        return shape[0] if len(shape) == 3 else shape[-1]

    def parameter_shapes(self, in_shapes):
        n = self.features(in_shapes[0])
        return {k: (n,) for k in ("weight", "bias", "running_mean", "running_var")}

    def initial_params(self, shapes, rng):
        """The identity normalisation: γ = σ² = 1, β = μ = 0 (calibration then sets γ, β)."""
        return {key: np.ones(shape) if key in ("weight", "running_var") else np.zeros(shape)
                for key, shape in shapes.items()}

    def gain_and_shift(self, params):
        """y = gain · x + shift with gain = γ/√(σ² + ε), shift = β − μ · gain."""
        gain = params["weight"] / np.sqrt(params["running_var"] + self.eps)
        return gain, params["bias"] - params["running_mean"] * gain

    def fold(self, producer: dict, params: dict) -> dict:
        """The producer's weights with this normalisation folded in:
        W' = W · γ/√(σ²+ε) (per output channel, every weight of the producer), b' = (b − μ) · γ/√(σ²+ε) + β."""
        gain = params["weight"] / np.sqrt(params["running_var"] + self.eps)
        bias = producer.get("bias", np.zeros(gain.shape[0]))
        scaled = {key: w * gain.reshape((-1,) + (1,) * (w.ndim - 1))  # every weight set (a multi-branch conv has several)
                  for key, w in producer.items() if key != "bias"}
        return {**scaled, "bias": (bias - params["running_mean"]) * gain + params["bias"]}

    def prepare(self, params, dtype, facts, engine):
        return dict(params)  # normalised in float64, then cast: the same arithmetic in every engine

    def dense(self, plan, inputs, state):
        x = inputs[0]
        gain, shift = self.gain_and_shift(plan)
        shape = (1, -1, 1, 1) if x.ndim == 4 else (1,) * (x.ndim - 1) + (-1,)
        return (x * gain.reshape(shape) + shift.reshape(shape)).astype(x.dtype, copy=False)
