"""``conv2d_multiscale``: GL-SPS patch splitting of SNN-ViT (Wang et al., ICLR 2025) — a standard
and one or more dilated convolutions of the same input, summed:

    y = Σ_b conv(x; W_b, dilation d_b, padding p_b = d_b (k − 1)/2) (+ b)      b over ``dilations``

Every branch has the same kernel size k, stride and output channels, and "same" padding for its
dilation, so all outputs have one shape. Parameters: ``weight`` (the first branch, dilation
``dilations[0]``, normally 1) and ``weight_d{d}`` for each further dilation d; one bias (a
folded BatchNorm's shift lands there). Each branch is a :class:`~evsim.kinds.conv2d.Conv2d`: its
dense and event steps, counts and expected counts are the branches' summed (an input event
reaches both branches, so its fan-out is the sum of the branches' fan-outs).

Assumption where the paper is silent (no code was released): the branches are summed before
one BatchNorm and one LIF (the paper's figure shows the sum feeding the neuron); the dilation of
the second branch is 2 unless the spec says otherwise.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar

import numpy as np

from ..spec.layer import ShapeProblem, pair
from ..spec.registry import register
from .base import Kind
from .conv2d import Conv2d

SUMMED = ("synaptic_events", "weighted_synaptic_events", "synaptic_events_nonzero", "dense_synaptic_ops", "dense_macs",
          "bias_adds")  # the counts of the branches that add up; inputs are recorded once by the engine


@register
@dataclass
class Conv2dMultiscale(Kind):
    step_local: ClassVar[bool] = True
    out_channels: int = 0
    kernel_size: int = 3
    stride: object = 1
    dilations: object = (1, 2)
    bias: bool = False
    kind: ClassVar[str] = "conv2d_multiscale"
    foldable_into: ClassVar[bool] = True

    def __post_init__(self):
        if not isinstance(self.kernel_size, int) or self.kernel_size < 1 or self.kernel_size % 2 == 0:
            raise ShapeProblem(f"'kernel_size' must be an odd positive int (same padding), got {self.kernel_size!r}")
        if (not isinstance(self.dilations, (list, tuple)) or not self.dilations
                or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 1 for d in self.dilations)
                or len(set(self.dilations)) != len(self.dilations)):
            raise ShapeProblem(f"'dilations' must be a list of distinct positive ints, got {self.dilations!r}")
        self.dilations = tuple(self.dilations)
        self.stride = pair(self.stride, "stride")
        half = (self.kernel_size - 1) // 2
        self.branches = [Conv2d(f"{self.name}[d={d}]", self.inputs, self.origin, out_channels=self.out_channels,
                                kernel_size=self.kernel_size, stride=self.stride, padding=d * half, dilation=d,
                                bias=self.bias and i == 0) for i, d in enumerate(self.dilations)]

    def keys(self):
        """The weight parameter of each branch."""
        return ["weight"] + [f"weight_d{d}" for d in self.dilations[1:]]

    def _branch_params(self, params):
        """Each branch's {weight[, bias]}: the bias (if any) goes to the first branch."""
        out = [{"weight": params[key]} for key in self.keys()]
        if "bias" in params:
            out[0]["bias"] = params["bias"]
        return out

    # -- shapes ---------------------------------------------------------------------------
    def output_shape(self, in_shapes):
        shapes = {b.output_shape(in_shapes) for b in self.branches}
        if len(shapes) != 1:
            raise ShapeProblem(f"the branches give different shapes {sorted(shapes)}")
        return shapes.pop()

    def parameter_shapes(self, in_shapes):
        shapes = {key: b.parameter_shapes(in_shapes)["weight"] for key, b in zip(self.keys(), self.branches)}
        if self.bias:
            shapes["bias"] = (self.out_channels,)
        return shapes

    def dense_ops(self, in_shapes, out_shape):
        return sum(b.dense_ops(in_shapes, out_shape) for b in self.branches)

    def synapses(self, in_shapes, out_shape):
        return sum(b.synapses(in_shapes, out_shape) for b in self.branches)

    def initial_params(self, shapes, rng):
        """W_b ~ N(0, 1/(fan_in · branches)) so the sum has unit variance per unit input."""
        fan_in = np.prod(shapes["weight"][1:]) * len(self.branches)
        return {key: rng.standard_normal(shape) / np.sqrt(fan_in) if key != "bias" else np.zeros(shape)
                for key, shape in shapes.items()}

    # -- engines --------------------------------------------------------------------------
    def prepare(self, params, dtype, facts, engine):
        return {"branches": [b.prepare(p, dtype, self._branch_facts(facts, b), engine)
                             for b, p in zip(self.branches, self._branch_params(params))]}

    def _branch_facts(self, facts, branch):
        """The layer's facts as one branch sees them: its own op counts, the bias only in the first."""
        if facts is None:
            return None
        return replace(facts, dense_ops=branch.dense_ops(facts.in_shapes, facts.out_shape),
                       synapses=branch.synapses(facts.in_shapes, facts.out_shape),
                       has_bias=facts.has_bias and branch is self.branches[0])

    def dense(self, plan, inputs, state):
        outs = [b.dense(p, inputs, {}) for b, p in zip(self.branches, plan["branches"])]
        return sum(outs[1:], outs[0])

    def event(self, plan, inputs, state, counts, steps):
        out = None
        for b, p in zip(self.branches, plan["branches"]):
            part = {key: np.zeros_like(value) for key, value in counts.items()}
            y = b.event(p, inputs, {}, part, steps)
            out = y if out is None else out + y
            for key in SUMMED:
                counts[key][steps] += part[key][steps]
        return out

    def count(self, params, inputs, output, facts, counts):
        for b, p in zip(self.branches, self._branch_params(params)):
            part = {key: np.zeros_like(value) for key, value in counts.items()}
            b.count(p, inputs, output, self._branch_facts(facts, b), part)
            for key in SUMMED:
                counts[key] += part[key]

    def expected(self, facts, in_rates, out_rate, counts):
        for b in self.branches:
            part = {key: np.zeros_like(value) for key, value in counts.items()}
            b.expected(self._branch_facts(facts, b), in_rates, out_rate, part)
            for key in SUMMED:
                counts[key] += part[key]
