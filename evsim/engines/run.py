"""What an engine returns, and how inputs become time series."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

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
    execution: dict = field(default_factory=dict)  # event engine: {layer: "events" | "dense"} (dense inputs through BLAS)

    def firing_rate(self, layer) -> float:
        """Spikes per neuron per time step."""
        return float(self.spikes[layer].mean())


def encode(spec: Spec, x, dtype) -> np.ndarray:
    """Network input as a [T, *shape] array: ``direct`` repeats one static image T times;
    ``frames`` takes [T, *shape] as given."""
    from ..validate import input_array
    inp = spec.input
    x = input_array(x, spec, dtype)  # shape, finiteness and value kind: one check for every entry point
    if inp.encoding == "direct":
        return np.broadcast_to(x, (inp.T, *inp.shape)).copy()
    return x
