"""Weights bound to a spec: read, check, save, and fold BatchNorm into the layer before it.

Files hold flat keys ``<layer name>.<parameter>`` (``block.0.attn.q_linear.weight``,
``patch_embed.proj_bn.running_var``) in ``.npz`` or ``.safetensors``. In memory a weight set
is ``{layer: {parameter: ndarray}}``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import WeightsError
from .outputs import write_output
from .spec import Spec
from .validate import existing_file

FLOAT_DTYPES = (np.float16, np.float32, np.float64)


def read_flat(path: str | Path, spec: Spec | None = None) -> dict[str, np.ndarray]:
    """Read a flat {key: array} from .npz or .safetensors (with ``spec``: only if the memory
    guard lets the file and the spec's weights in)."""
    path = existing_file(path, "weights file", WeightsError)
    _check_size(path, spec)
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


def _unpacked_bytes(path: Path) -> int:
    """What reading the file allocates: an .npz's uncompressed size (a small archive can
    unpack to gigabytes), else the file's size."""
    if path.suffix == ".npz":
        import zipfile
        try:
            with zipfile.ZipFile(path) as archive:
                return sum(info.file_size for info in archive.infolist())
        except (zipfile.BadZipFile, OSError, ValueError) as err:
            raise WeightsError(f"cannot read weights ({err})", file=str(path), fix="re-export the file") from None
    return path.stat().st_size


def _check_size(path: Path, spec) -> None:
    from .resources import check, check_weights
    size = _unpacked_bytes(path)
    if spec is not None:
        check_weights(spec, file_bytes=size)
    else:
        check([("the weights file as read", size)], "reading the weights", file=str(path))


def flatten(params: dict) -> dict[str, np.ndarray]:
    """{layer: {param: array}} → {'layer.param': array}."""
    if not isinstance(params, dict) or not all(isinstance(e, dict) for e in params.values()):
        raise WeightsError("a weight set is {layer: {parameter: array}}", fix="nest every layer's parameters in a dict")
    # np.asarray(order="C"), not ascontiguousarray: a 0-d parameter (PLIF's per-layer w) stays 0-d
    return {f"{layer}.{key}": np.asarray(value, order="C") for layer, entry in params.items() for key, value in entry.items()}


def save(params: dict, path: str | Path, metadata: dict[str, str] | None = None) -> None:
    """Write a weight set as .npz or .safetensors, atomically; ``metadata`` (strings, e.g.
    how the weights were trained and what they score) goes into a safetensors header."""
    from .outputs import check_destination
    check_destination(path, "weights")
    flat = flatten(params)
    if metadata and Path(path).suffix.lower() != ".safetensors":
        raise WeightsError("only .safetensors files hold metadata", file=str(path), fix="save as .safetensors")
    if metadata and not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
        raise WeightsError("metadata keys and values must be strings", file=str(path),
                           fix="convert numbers with str() or json.dumps()")
    if Path(path).suffix.lower() == ".npz":
        write_output(path, lambda f: np.savez(f, **flat), "weights")
    else:
        from safetensors.numpy import save
        write_output(path, lambda f: f.write(save(flat, metadata=metadata)), "weights")


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


def fold(spec: Spec, params: dict) -> dict:
    """The parameters the engines run: every foldable normalisation folded into its producer
    (the kind's ``fold``, e.g. BatchNorm: W' = W·γ/√(σ²+ε), b' = (b − μ)·γ/√(σ²+ε) + β).
    The unfolded set is left untouched."""
    fused = spec.fused
    folded = {layer: dict(entry) for layer, entry in params.items() if layer not in fused}
    for name, producer in fused.items():
        folded[producer] = spec.layers[name].fold(params[producer], params[name])
    return folded
