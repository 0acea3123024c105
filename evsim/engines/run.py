"""What an engine returns, and how inputs become time series."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError
from ..spec import Spec


@dataclass
class Run:
    """One inference: ``output`` (the output layer, steps collapsed if it is after a mean over
    time), ``spikes[layer]`` as [T, ...] arrays for every spiking layer, ``stats[layer]``
    (:class:`evsim.stats.LayerStats`) for every layer that did work, and ``activity[layer]``:
    the elements, events (nonzero values) and spikes (Σ values if integer) of every output."""

    engine: str
    dtype: np.dtype
    output: np.ndarray
    spikes: dict = field(default_factory=dict)
    stats: dict = field(default_factory=dict)
    spec_name: str = ""
    T: int = 0
    activity: dict = field(default_factory=dict)  # {layer: (elements, events, spikes)} of every output, all steps

    def firing_rate(self, layer) -> float:
        """Spikes per neuron per time step."""
        return float(self.spikes[layer].mean())


def encode(spec: Spec, x, dtype) -> np.ndarray:
    """Network input as a [T, *shape] array: ``direct`` repeats one static image T times;
    ``frames`` takes [T, *shape] as given."""
    inp = spec.input
    try:
        x = np.asarray(x)
    except Exception:
        raise InputError("the input is not an array", file=spec.path) from None
    if x.dtype.kind not in "biuf":
        raise InputError(f"input dtype {x.dtype} is not numeric", file=spec.path, fix="pass a float or integer array")
    want = inp.shape if inp.encoding == "direct" else (inp.T, *inp.shape)
    if x.shape != tuple(want):
        raise InputError(f"input has shape {list(x.shape)}, the spec's {inp.encoding} encoding expects {list(want)}",
                         file=spec.path, fix="reshape the input or fix 'input' in the spec")
    x = x.astype(dtype)
    if not np.all(np.isfinite(x)):
        raise InputError("input holds NaN or infinite values", file=spec.path)
    if inp.encoding == "direct":
        return np.broadcast_to(x, (inp.T, *inp.shape)).copy()
    return x
