"""A spec bound to weights: what ``evsim.load`` returns."""
from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import validate
from . import weights as weights_io
from .engines import ENGINES, Plan, Run, check_memory, get_batch_engine, get_engine, make_plan
from .errors import EvsimError, WeightsError
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

    def run(self, x, engine: str = "dense", dtype=np.float64, memory_budget_bytes: int | None = None,
            strict_events: bool = False) -> Run:
        """One inference. ``engine``: dense | event; ``dtype``: float64 | float32;
        ``strict_events``: the event engine scatters every layer's events, even where its
        input is dense enough for BLAS to be faster (same spikes and counts either way)."""
        dtype = validate.dtype(dtype)
        validate.choice(engine, ENGINES, "engine")
        check_memory(self.spec, dtype, memory_budget_bytes, engine)
        return get_engine(engine)(self.plan(engine, dtype), x, strict_events=strict_events)

    def run_many(self, inputs, engine: str = "event", dtype=np.float64, progress: bool = True,
                 memory_budget_bytes: int | None = None, strict_events: bool = False, batch: int = 1) -> list[Run]:
        """One Run per input, with a progress bar (stderr) when there are several. Every input
        is checked, and the whole batch's memory estimated, before the first run. ``batch`` > 1:
        the event engine's throughput mode runs that many inputs together (each Run equal to
        its own single run; :func:`evsim.engines.event.run_batch`)."""
        from tqdm import tqdm
        dtype = validate.dtype(dtype)
        validate.choice(engine, ENGINES, "engine")
        batch = validate.integer(batch, "batch (inputs run together)", low=1)
        inputs = [validate.input_array(x, self.spec, dtype) for x in inputs]
        check_memory(self.spec, dtype, memory_budget_bytes, engine, batch=len(inputs))
        run_batch, plan = get_batch_engine(engine), self.plan(engine, dtype)
        runs = []
        with tqdm(total=len(inputs), desc=f"{engine} engine", unit="input", disable=not progress or len(inputs) < 2,
                  file=sys.stderr) as bar:
            for start in range(0, len(inputs), batch):
                group = inputs[start:start + batch]
                runs.extend(run_batch(plan, group, strict_events=strict_events))
                bar.update(len(group))
        return runs

    def trace(self, x, layer: str, neurons=(0, 1, 2)) -> NeuronTrace:
        """Membrane state of chosen neurons of one neuron layer over time: the dense engine
        runs to that layer, then its neuron model is driven with the recorded input current
        (the same arithmetic as a run). ``neurons``: flat indices into the layer."""
        from . import neurons as neuron_models
        from .engines import dense
        kind = self.spec.layers.get(layer)
        if kind is None or not hasattr(kind, "model"):
            raise EvsimError(f"'{layer}' is not a layer of neurons", file=self.spec.path,
                             fix="name a lif/if/... layer (evsim info SPEC lists them)")
        captured = {}

        def grab(name, inputs):
            if name == layer:
                captured["x"] = inputs[0].reshape(inputs[0].shape[0], -1).copy()
        dense.propagate(self.plan("dense", np.float64), x, before=grab, count=False)
        chosen = np.asarray(neurons, dtype=int)
        if chosen.size == 0 or chosen.min() < 0 or chosen.max() >= captured["x"].shape[1]:
            raise EvsimError(f"neurons {list(chosen)} outside the layer's {captured['x'].shape[1]}", layer=layer)
        current = captured["x"][:, chosen]
        params = kind.parameters()
        spikes, state = neuron_models.run(kind.model, current, params)
        return NeuronTrace(layer, chosen.tolist(), current, state.v, _charged(kind.model, current, params), spikes,
                           float(getattr(params, "v_threshold", 1.0)))

    def save_weights(self, path) -> None:
        weights_io.save(self.params, path)


@dataclass
class NeuronTrace:
    """Input current X, state V (after reset), charged potential H (before reset) and spikes
    of chosen neurons, each [T, neurons]."""
    layer: str
    neurons: list
    current: np.ndarray
    v: np.ndarray
    charged: np.ndarray
    spikes: np.ndarray
    threshold: float


def _charged(model, current, params):
    """H[t]: the state the threshold is compared with, before the reset (V where no charge function exists)."""
    state = model.initial_state(current.shape[1:], params, current.dtype)
    out = np.empty_like(current)
    for t in range(current.shape[0]):
        before = state.v
        _, state = model.step(current[t], state, params)
        out[t] = model.charge(before, current[t], params) if hasattr(model, "charge") else state.v
    return out


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
