"""``lca_decode``: ViT-LCA's two decoders of a sparse code a [M] over atoms with class labels.

    max activation   ŷ₁ = label[argmax_j a_j]                      (first atom wins a tie)
    max sum          ŷ₂ = argmax_c Σ_{j: label_j = c} a_j           (first class wins a tie)

The output per step is the pair [ŷ₁, ŷ₂] (class indices as floats). The labels are this
layer's parameter ``labels`` [M] (integers 0..classes−1 stored as floats), so the ``lca``
layer before it stays a pure sparse coder. When no atom is active both decoders answer as
the paper's code does: argmax of an all-zero vector is index 0 (atom 0's label, class 0).
No synaptic work is counted (M additions for the class sums, beside the LCA's millions).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..errors import WeightsError
from ..spec.layer import ShapeProblem, require_rank
from ..spec.registry import register
from .base import Passive


def max_activation(a: np.ndarray, labels: np.ndarray) -> int:
    return int(labels[int(np.argmax(a))])


def max_sum(a: np.ndarray, labels: np.ndarray, classes: int) -> int:
    return int(np.argmax(np.bincount(labels, weights=a, minlength=classes)))


@register
@dataclass
class LCADecode(Passive):
    classes: int = 0
    kind: ClassVar[str] = "lca_decode"

    def __post_init__(self):
        if not isinstance(self.classes, int) or self.classes < 1:
            raise ShapeProblem(f"'classes' must be a positive int, got {self.classes!r}")

    def output_shape(self, in_shapes):
        require_rank(in_shapes[0], (1,), "its input (an lca layer's activations)")
        return (2,)

    def parameter_shapes(self, in_shapes):
        return {"labels": (in_shapes[0][0],)}

    def initial_params(self, shapes, rng):
        return {"labels": rng.integers(0, self.classes, shapes["labels"]).astype(np.float64)}

    def prepare(self, params, dtype, facts, engine):
        labels = np.asarray(params["labels"], dtype=np.float64)
        as_int = np.rint(labels).astype(np.int64)
        if np.any(as_int != labels) or np.any(as_int < 0) or np.any(as_int >= self.classes):
            raise WeightsError(f"'labels' must hold class indices 0..{self.classes - 1}", layer=getattr(facts, "name", None),
                               fix="store each atom's class as a whole number below 'classes'")
        return {"labels": as_int}

    def dense(self, plan, inputs, state):
        a, labels = inputs[0], plan["labels"]
        return np.array([[max_activation(step, labels), max_sum(step, labels, self.classes)] for step in a], dtype=a.dtype)
