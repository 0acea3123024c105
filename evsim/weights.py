"""Weights bound to a spec: read, check, save, and fold BatchNorm into the layer before it.

Files hold flat keys ``<layer name>.<parameter>`` (``block.0.attn.q_linear.weight``,
``patch_embed.proj_bn.running_var``) in ``.npz`` or ``.safetensors``. In memory a weight set
is ``{layer: {parameter: ndarray}}``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import WeightsError
from .files import write_atomic
from .spec import Spec
from .spec.layers import BatchNorm, Conv2d, Linear

FLOAT_DTYPES = (np.float16, np.float32, np.float64)


def read_flat(path: str | Path) -> dict[str, np.ndarray]:
    """Read a flat {key: array} from .npz or .safetensors."""
    path = Path(path)
    if not path.exists():
        raise WeightsError("no such weights file", file=str(path), fix="check the path")
    try:
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as data:
                return {k: data[k] for k in data.files}
        if path.suffix == ".safetensors":
            from safetensors.numpy import load_file
            return load_file(str(path))
    except Exception as err:  # a corrupt archive: say which file, not where NumPy fell over
        raise WeightsError(f"cannot read weights ({type(err).__name__}: {err})", file=str(path),
                           fix="re-export the file; evsim reads .npz and .safetensors") from None
    raise WeightsError(f"unknown weights format '{path.suffix}'", file=str(path),
                       fix="use .npz or .safetensors (evsim import converts PyTorch checkpoints)")


def flatten(params: dict) -> dict[str, np.ndarray]:
    return {f"{layer}.{key}": np.ascontiguousarray(value) for layer, entry in params.items() for key, value in entry.items()}


def save(params: dict, path: str | Path, metadata: dict[str, str] | None = None) -> None:
    """Write a weight set as .npz or .safetensors, atomically; ``metadata`` (strings, e.g.
    how the weights were trained and what they score) goes into a safetensors header."""
    path = Path(path)
    flat = flatten(params)
    if metadata and path.suffix != ".safetensors":
        raise WeightsError("only .safetensors files hold metadata", file=str(path), fix="save as .safetensors")
    if metadata and not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
        raise WeightsError("metadata keys and values must be strings", file=str(path),
                           fix="convert numbers with str() or json.dumps()")
    if path.suffix == ".npz":
        write_atomic(path, lambda tmp: np.savez(tmp, **flat))
    elif path.suffix == ".safetensors":
        from safetensors.numpy import save_file
        write_atomic(path, lambda tmp: save_file(flat, tmp, metadata=metadata))
    else:
        raise WeightsError(f"unknown weights format '{path.suffix}'", file=str(path), fix="use .npz or .safetensors")


def read_metadata(path: str | Path) -> dict[str, str]:
    """The {str: str} metadata of a .safetensors file ({} when it has none)."""
    path = Path(path)
    if path.suffix != ".safetensors":
        raise WeightsError("only .safetensors files hold metadata", file=str(path))
    if not path.exists():
        raise WeightsError("no such weights file", file=str(path), fix="check the path")
    from safetensors import safe_open
    with safe_open(str(path), framework="numpy") as handle:
        return dict(handle.metadata() or {})


def bind(spec: Spec, flat: dict[str, np.ndarray], source: str = "<weights>") -> dict:
    """Check a flat weight dict against the spec and nest it by layer.

    Rejects missing and extra keys, wrong shapes, non-float dtypes and NaN/inf, naming the
    weights file, the layer and the spec line where the layer is written."""
    expected = spec.parameter_shapes()
    wanted = {f"{layer}.{key}": (layer, key) for layer, shapes in expected.items() for key in shapes}
    missing = [k for k in wanted if k not in flat]
    if missing:
        layer = wanted[missing[0]][0]
        raise WeightsError(f"missing {len(missing)} weight(s), first '{missing[0]}' (all: {', '.join(missing[:6])}{'…' if len(missing) > 6 else ''})",
                           file=source, layer=layer,
                           fix=f"the spec ({spec.where(layer)}) needs them; export every parameter or fix the spec")
    extra = [k for k in flat if k not in wanted]
    if extra:
        raise WeightsError(f"{len(extra)} key(s) the spec has no place for, first '{extra[0]}'", file=source,
                           fix="check the layer names against the spec (evsim info SPEC lists them)")
    params: dict = {}
    for key, (layer, name) in wanted.items():
        value = flat[key]
        if not isinstance(value, np.ndarray) or value.dtype.type not in FLOAT_DTYPES:
            raise WeightsError(f"'{name}' has dtype {getattr(value, 'dtype', type(value).__name__)}, expected a float type",
                               file=source, layer=layer, fix="store weights as float16/32/64")
        shape = expected[layer][name]
        if value.shape != shape:
            raise WeightsError(f"'{name}' has shape {list(value.shape)}, the spec expects {list(shape)}",
                               file=source, layer=layer,
                               fix=f"check {spec.where(layer)} against the weights")
        if not np.all(np.isfinite(value)):
            bad = int(np.size(value) - np.count_nonzero(np.isfinite(value)))
            raise WeightsError(f"'{name}' holds {bad} NaN or infinite value(s)", file=source, layer=layer,
                               fix="the checkpoint is damaged or the training diverged")
        if name == "running_var" and np.any(value < 0):
            raise WeightsError("'running_var' has negative entries", file=source, layer=layer)
        params.setdefault(layer, {})[name] = value.astype(np.float64)
    return params


def load(spec: Spec, path: str | Path) -> dict:
    return bind(spec, read_flat(path), str(path))


class BoundWeights:
    """A spec with checked weights: ``params`` (unfolded, as in the file), ``execution_params``
    (BatchNorm folded), ``fused`` ({batchnorm: producer}) and ``engine_cache`` (per-engine
    preparations of the weights, by dtype). What every engine runs."""

    def __init__(self, spec: Spec, params: dict | None = None, source: str = "<weights>"):
        self.spec = spec
        self.params = None
        self.execution_params, self.fused = {}, {}
        self.engine_cache: dict = {}
        if params is not None:
            self.set_params(params, source)

    def set_params(self, params: dict, source: str = "<weights>"):
        """Check and bind {layer: {param: array}} or flat {'layer.param': array}."""
        flat = flatten(params) if params and isinstance(next(iter(params.values())), dict) else params
        self.params = bind(self.spec, flat, source)
        self.execution_params, self.fused = fold_batchnorm(self.spec, self.params)
        self.engine_cache = {}


def foldable_batchnorms(spec: Spec) -> dict[str, str]:
    """{batchnorm: producer} for each BatchNorm whose only input is a conv/linear that
    feeds nothing else: those fold exactly into the producer."""
    fused = {}
    for name, layer in spec.layers.items():
        if isinstance(layer, BatchNorm):
            producer = layer.inputs[0]
            if isinstance(spec.layers.get(producer), (Conv2d, Linear)) and spec.consumers(producer) == [name]:
                fused[name] = producer
    return fused


def fold_batchnorm(spec: Spec, params: dict) -> tuple[dict, dict[str, str]]:
    """Fold inference-mode BatchNorm into the preceding conv/linear:
    W' = W · γ/√(σ²+ε) (per output channel), b' = (b − μ) · γ/√(σ²+ε) + β.
    Returns (folded parameters, {batchnorm: producer}); the unfolded set is left untouched."""
    fused = foldable_batchnorms(spec)
    folded = {layer: dict(entry) for layer, entry in params.items() if layer not in fused}
    for bn_name, producer in fused.items():
        bn = params[bn_name]
        gain = bn["weight"] / np.sqrt(bn["running_var"] + spec.layers[bn_name].eps)
        weight = params[producer]["weight"]
        bias = params[producer].get("bias", np.zeros(weight.shape[0]))
        folded[producer] = {
            "weight": weight * gain.reshape((-1,) + (1,) * (weight.ndim - 1)),
            "bias": (bias - bn["running_mean"]) * gain + bn["bias"],
        }
    return folded, fused
