"""A spec bound to weights: what ``evsim.load`` returns."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from . import weights as weights_io
from .engines import ENGINE_NAMES, get_engine
from .errors import EvsimError, WeightsError
from .spec import Spec, load_spec


class Network(weights_io.BoundWeights):
    """A spec bound to weights (see :class:`evsim.weights.BoundWeights`), with the API:
    ``run``, ``run_many``, ``param_count``, ``save_weights``."""

    @property
    def param_count(self) -> int:
        return self.spec.param_count

    def run(self, x, engine: str = "dense", dtype=np.float64, **options):
        """One inference. ``engine``: dense | event; ``dtype``: float64 | float32."""
        if self.params is None:
            raise WeightsError("this network has no weights", file=self.spec.path,
                               fix="load with weights=PATH or use evsim.synthetic_weights(spec, seed, target_rate)")
        dtype = np.dtype(dtype)
        if dtype not in (np.float32, np.float64):
            raise EvsimError(f"dtype {dtype} is not supported", fix="use float64 or float32")
        if engine not in ENGINE_NAMES:
            raise EvsimError(f"unknown engine '{engine}'", fix=f"choose one of {', '.join(ENGINE_NAMES)}")
        return get_engine(engine)(self, x, dtype, **options)

    def run_many(self, inputs, engine: str = "event", dtype=np.float64, progress: bool = True, **options):
        """One Run per input, with a progress bar (stderr) when there are several."""
        import sys

        from tqdm import tqdm
        return [self.run(x, engine=engine, dtype=dtype, **options) for x in
                tqdm(inputs, desc=f"{engine} engine", unit="input", disable=not progress or len(inputs) < 2,
                     file=sys.stderr)]

    def save_weights(self, path):
        weights_io.save(self.params, path)


def load(spec_path: str | Path, weights=None) -> Network:
    """``evsim.load(spec, weights=None)``: ``weights`` is a path (.npz/.safetensors) or a
    {layer: {param: array}} dict."""
    spec = spec_path if isinstance(spec_path, Spec) else load_spec(spec_path)
    network = Network(spec)
    if isinstance(weights, (str, Path)):
        network.set_params(weights_io.read_flat(weights), str(weights))
    elif weights is not None:
        network.set_params(weights)
    return network
