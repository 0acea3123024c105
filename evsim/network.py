"""A spec bound to weights: what ``evsim.load`` returns."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from . import validate
from . import weights as weights_io
from .engines import ENGINES, Plan, Run, check_memory, get_engine, make_plan
from .errors import WeightsError
from .spec import Spec, load_spec


class Network:
    """A spec with checked weights: ``params`` (unfolded, as in the file) and
    ``execution_params`` (normalisations folded). Engines run a :class:`Plan` made from it
    per engine and dtype (cached here)."""

    def __init__(self, spec: Spec, params: dict | None = None, source: str = "<weights>"):
        self.spec = spec
        self.params: dict | None = None
        self.execution_params: dict = {}
        self._plans: dict = {}
        if params is not None:
            self.set_params(params, source)

    def set_params(self, params: dict, source: str = "<weights>") -> None:
        """Check and bind {layer: {param: array}} or flat {'layer.param': array}."""
        if not isinstance(params, dict):
            raise WeightsError(f"weights must be a dict {{layer: {{param: array}}}} or a path, got {type(params).__name__}",
                               file=self.spec.path)
        flat = weights_io.flatten(params) if params and isinstance(next(iter(params.values())), dict) else params
        self.params = weights_io.bind(self.spec, flat, source)
        self.execution_params = weights_io.fold(self.spec, self.params)
        self._plans = {}

    @property
    def fused(self) -> dict:
        return self.spec.fused

    @property
    def param_count(self) -> int:
        return self.spec.param_count

    def plan(self, engine: str, dtype=np.float64) -> Plan:
        """The prepared weights of one engine and dtype (made once)."""
        if self.params is None:
            raise WeightsError("this network has no weights", file=self.spec.path,
                               fix="load with weights=PATH or use evsim.synthetic_weights(spec, seed, target_rate)")
        key = (engine, np.dtype(dtype).str)
        if key not in self._plans:
            self._plans[key] = make_plan(self.spec, self.execution_params, engine, dtype)
        return self._plans[key]

    def run(self, x, engine: str = "dense", dtype=np.float64, memory_budget_bytes: int | None = None) -> Run:
        """One inference. ``engine``: dense | event; ``dtype``: float64 | float32."""
        dtype = validate.dtype(dtype)
        validate.choice(engine, ENGINES, "engine")
        check_memory(self.spec, dtype, memory_budget_bytes, engine)
        return get_engine(engine)(self.plan(engine, dtype), x)

    def run_many(self, inputs, engine: str = "event", dtype=np.float64, progress: bool = True, **options) -> list[Run]:
        """One Run per input, with a progress bar (stderr) when there are several. Every input
        is checked, and the whole batch's memory estimated, before the first run."""
        from tqdm import tqdm
        dtype = validate.dtype(dtype)
        validate.choice(engine, ENGINES, "engine")
        inputs = [validate.input_array(x, self.spec, dtype) for x in inputs]
        check_memory(self.spec, dtype, options.get("memory_budget_bytes"), engine, batch=len(inputs))
        return [self.run(x, engine=engine, dtype=dtype, **options) for x in
                tqdm(inputs, desc=f"{engine} engine", unit="input", disable=not progress or len(inputs) < 2,
                     file=sys.stderr)]

    def save_weights(self, path) -> None:
        weights_io.save(self.params, path)


def load(spec_path: str | Path | Spec, weights: str | Path | dict | None = None) -> Network:
    """``evsim.load(spec, weights=None)``: ``weights`` is a path (.npz/.safetensors) or a
    {layer: {param: array}} dict."""
    spec = spec_path if isinstance(spec_path, Spec) else load_spec(spec_path)
    network = Network(spec)
    if isinstance(weights, (str, Path)):
        network.set_params(weights_io.read_flat(weights, spec), str(weights))
    elif weights is not None:
        network.set_params(weights)
    return network
