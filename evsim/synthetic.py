"""Deterministic random weights that fire at a chosen rate — realistic sparsity without
trained weights, for benchmarks, demos and tests.

Convs and linears draw W ~ N(0, 1/fan_in). Each BatchNorm that feeds a spiking layer is
then calibrated on a sample input, layer by layer in topological order (upstream layers
already calibrated): its gain rescales the pre-activations to unit spread and its shift is
bisected until the spiking layer fires at ``target_rate`` spikes per neuron per step.
"""
from __future__ import annotations

import numpy as np

from . import validate
from .engines import dense
from .network import Network
from .resources import check_calibration
from .spec import ANALOG, BINARY, Spec, load_spec


def sample_input(spec: Spec, seed: int = 0, rate: float = 0.1) -> np.ndarray:
    """A reproducible input of the spec's shape: a normalised random image for ``direct``,
    random events (binary or small integer counts) at ``rate`` for ``frames``."""
    rng = np.random.default_rng(validate.seed(seed))
    rate = validate.number(rate, "rate", low=0, high=1)
    inp = spec.input
    if inp.encoding == "direct":
        return rng.standard_normal(inp.shape)
    shape = (inp.T, *inp.shape)
    if inp.values == ANALOG:
        return rng.standard_normal(shape)
    events = (rng.random(shape) < rate).astype(np.float64)
    return events if inp.values == BINARY else events * rng.integers(1, 3, size=shape)


def initial_weights(spec: Spec, seed: int) -> dict:
    """Each layer's kind draws its parameters (``initial_params``), layer by layer from one seed."""
    rng = np.random.default_rng(seed)
    return {name: spec.layers[name].initial_params(shapes, rng) for name, shapes in spec.parameter_shapes().items()}


def _rate_after_shift(layer, params, x, shift, others=()):
    plan = layer.prepare(params, x.dtype, None, "dense")
    return float(layer.dense(plan, [x + shift, *others], {}).mean())


def _calibrate_shift(layer, params, x, target_rate, iterations=40, others=()):
    """Bisect the shift δ with rate(x + δ) = target (rate is monotone in δ); ``others``: the
    layer's further inputs (a masked neuron's token mask), passed through unchanged."""
    spread = float(np.abs(x).max()) + abs(getattr(layer, "v_threshold", 1.0)) + 1.0
    low, high = -spread, spread
    for _ in range(iterations):
        middle = 0.5 * (low + high)
        if _rate_after_shift(layer, params, x, middle, others) < target_rate:
            low = middle
        else:
            high = middle
    return 0.5 * (low + high)


def _through_scaling(spec, name):
    """The layer before a single-consumer pool that commutes with a positive affine map (a max-pool:
    max(g·y + s) = g·max(y) + s for g > 0), so that conv → BN → max-pool → LIF (QKFormer, SDT)
    calibrates its BN as conv → BN → LIF does; otherwise ``name``."""
    layer = spec.layers.get(name)
    consumers = sum(name in other.inputs for other in spec.layers.values())
    return layer.inputs[0] if layer is not None and layer.commutes_with_scaling and consumers == 1 else name


def synthetic_weights(spec: Spec | str, seed: int = 0, target_rate: float = 0.15, sample: np.ndarray | None = None,
                      progress: bool = False) -> dict:
    """``{layer: {param: array}}`` for ``spec`` (a Spec or a path), deterministic in ``seed``,
    with every BN-fed spiking layer firing near ``target_rate`` on ``sample`` (default: a
    seeded :func:`sample_input`). ``progress`` shows a bar over the layers (stderr)."""
    spec = spec if isinstance(spec, Spec) else load_spec(spec)
    target_rate = validate.fraction(target_rate, "synthetic firing rate")
    seed = validate.seed(seed)
    check_calibration(spec)  # before drawing a single weight
    if sample is not None:
        sample = validate.input_array(sample, spec)
    params = initial_weights(spec, seed)
    network = Network(spec, params)
    sample = sample_input(spec, seed) if sample is None else sample

    import sys

    from tqdm import tqdm
    bar = tqdm(total=len(spec.layers) - len(spec.fused), desc="calibrating synthetic weights", unit="layer", disable=not progress,
               file=sys.stderr)

    def calibrate(name, inputs):
        bar.update(1)
        layer = spec.layers[name]
        if hasattr(layer, "calibrate"):  # a kind that sets its own parameters for a rate (a spike gate's scale)
            layer.calibrate(network.params[name], inputs, target_rate)
            plan.layers[name] = layer.prepare(network.params[name], plan.dtype, plan.facts[name], plan.engine)
            return
        bn = _through_scaling(spec, layer.inputs[0])
        if not layer.spiking or bn not in network.fused:
            return
        x = inputs[0]  # the folded producer's output (BN applied with current γ, β), or its max-pool
        gain = 1.0 / max(float(x.std()), 1e-12)
        x *= gain
        shift = _calibrate_shift(layer, network.params.get(name, {}), x, target_rate, others=inputs[1:])
        x += shift
        entry = network.params[bn]
        entry["weight"] = entry["weight"] * gain
        entry["bias"] = entry["bias"] * gain + shift

    plan = network.plan("dense", np.float64)
    dense.propagate(plan, sample, before=calibrate, count=False)
    bar.close()
    return network.params
