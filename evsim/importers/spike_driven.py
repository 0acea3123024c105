"""Official Spikingformer and Spike-Driven Transformer (SDT v1) checkpoints → evsim spec + weights.

``--variant`` chooses the spec: a shipped one by its configuration (``imagenet-8-512`` is
models/spikingformer-imagenet-8-512.yaml for ``spikingformer``, models/sdt-imagenet-8-512.yaml
for ``sdt``; the full name works too) or a spec file of one's own (one extending a shipped
spec, say, with another depth or width). The specs' layer names are the official module names
(github.com/zhouchenlin2096/Spikingformer cifar10/ and imagenet/ model.py;
github.com/BICLab/Spike-Driven-Transformer module/ and model/), so the checkpoint's keys are
the spec's parameters one for one. What differs is tensor shape — Conv1d [out, in, 1] and 1×1
Conv2d [out, in, 1, 1] are evsim linears [out, in] — and the keys evsim has no use for, which
the official code builds but never calls: Spikingformer's LayerNorms ``norm1``/``norm2``, SDT's
``attn.talking_heads`` Conv1d, and BatchNorm's ``num_batches_tracked``.

Every key is checked against the spec before anything is written: a key the spec lacks, one it
needs that the checkpoint lacks, or a shape that differs is an error naming the key and the
variant, and the fix names the shipped variants (of either family) the checkpoint does fit.
Heads are not in any tensor shape: Spikingformer's come from the spec (``--heads`` overrides
them); SDT's do not change its computation (SDSA is per channel) and are not in its spec.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import EvsimError, WeightsError
from .spikformer import IMPORTED, read_state_dict


@dataclass(frozen=True)
class Family:
    title: str
    unused: re.Pattern   # keys the official code builds but never calls
    unused_note: str


FAMILIES = {
    "spikingformer": Family("Spikingformer", re.compile(r"(^|\.)(norm[12]\.(weight|bias)|num_batches_tracked)$"),
                            "the LayerNorms the official code builds but never calls, BatchNorm counters"),
    "sdt": Family("Spike-Driven Transformer", re.compile(r"(^|\.)(attn\.talking_heads\.weight|num_batches_tracked)$"),
                  "the talking_heads Conv1d the official code builds but never calls, BatchNorm counters"),
}


def variants(family: str) -> list[str]:
    """The shipped configurations of a family (``imagenet-8-512``, …)."""
    from ..spec.graph import shipped_specs
    return [name[len(family) + 1:] for name in shipped_specs() if name.startswith(f"{family}-")]


def resolve_variant(family: str, variant) -> tuple[Path, str]:
    """(spec path, how messages name it) for ``--variant``: a shipped configuration, a shipped
    spec's full name, or a spec file."""
    from .. import validate
    from ..spec.graph import shipped_dir
    validate.choice(family, FAMILIES, "family")
    variant = validate.path(variant, "variant")
    if variant.endswith((".yaml", ".yml")) or Path(variant).exists():
        path = Path(variant)
        if not path.is_file():
            raise EvsimError(f"no such spec file '{variant}'", fix=f"give a spec file or one of {', '.join(variants(family))}")
        return path, str(path)
    short = variant[len(family) + 1:] if variant.startswith(f"{family}-") else variant
    if short not in variants(family):
        raise EvsimError(f"unknown {family} variant '{variant}'",
                         fix=f"choose one of {', '.join(variants(family))} (models/{family}-*.yaml), or give a spec file")
    return shipped_dir() / f"{family}-{short}.yaml", short


def _expected(spec) -> dict[str, tuple]:
    return {f"{layer}.{key}": shape for layer, shapes in spec.parameter_shapes().items() for key, shape in shapes.items()}


def _fitted(value: np.ndarray, want: tuple) -> np.ndarray:
    """Conv1d [o, i, 1] and 1×1 Conv2d [o, i, 1, 1] → linear [o, i]; anything else as it is."""
    if value.shape != want and value.shape[:len(want)] == want and all(d == 1 for d in value.shape[len(want):]):
        return value.reshape(want)
    return value


def to_evsim(state: dict, spec, family: str, label: str, source="<checkpoint>", spec_name=None) -> tuple[dict, list[str]]:
    """The checkpoint's keys → evsim's flat weights (shapes squeezed); returns (weights, ignored
    keys). Shapes, unexpected and missing keys are errors naming the key and the variant
    (``label``, as the user gave it; ``spec_name``: the variant's spec, default ``spec.name``)."""
    expected, unused = _expected(spec), FAMILIES[family].unused
    where = f"the {spec_name or spec.name} spec (--variant {label})"
    flat, ignored, unexpected = {}, [], []
    for key, value in state.items():
        if key in expected:
            flat[key] = _fitted(value, expected[key])
            if flat[key].shape != expected[key]:
                raise WeightsError(f"'{key}' has shape {list(value.shape)}, {where} expects {list(expected[key])}",
                                   file=source, fix=_fix(state, family, label))
        elif unused.search(key):
            ignored.append(key)
        else:
            unexpected.append(key)
    if unexpected:
        more = f" (and {len(unexpected) - 1} more)" if len(unexpected) > 1 else ""
        raise WeightsError(f"'{unexpected[0]}'{more} has no place in {where}",
                           file=source, fix=_fix(state, family, label))
    missing = [key for key in expected if key not in state]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise WeightsError(f"no '{missing[0]}'{more}, which {where} needs",
                           file=source, fix=_fix(state, family, label))
    return flat, sorted(ignored, key=lambda key: key.endswith("num_batches_tracked"))   # the unused modules first


def fits(state: dict, spec, family: str) -> bool:
    expected = _expected(spec)
    return (all(k in state and _fitted(state[k], shape).shape == shape for k, shape in expected.items())
            and all(k in expected or FAMILIES[family].unused.search(k) for k in state))


def _fix(state, family, label) -> str:
    """Which shipped variants the checkpoint fits (of either family), for the error's fix."""
    from ..spec import load_spec
    found = [(f, v) for f in FAMILIES for v in variants(f) if fits(state, load_spec(f"{f}-{v}"), f)]
    if found:
        return "the checkpoint fits " + " or ".join(f"'evsim import {f} … --variant {v}'" for f, v in found)
    return (f"no shipped {FAMILIES[family].title} variant fits it: is it an official {FAMILIES[family].title} "
            f"checkpoint? For another depth or width give a spec file extending models/{family}-*.yaml as --variant")


def spec_text(family: str, base: Path, name: str, T=None, img_size=None, heads=None, source="") -> str:
    """The imported model's spec: the variant's own YAML with the name (and any overridden
    input or heads) replaced; a relative ``extends`` is made absolute."""
    import yaml

    from ..spec import load_spec
    raw = yaml.safe_load(base.read_text())
    extends = raw.get("extends")
    if isinstance(extends, str) and not extends.startswith("evsim:") and not Path(extends).is_absolute():
        raw["extends"] = str((base.parent / extends).resolve())
    raw["name"] = name
    if T is not None or img_size is not None:
        inp = load_spec(base).input
        shape = list(inp.shape) if img_size is None else [inp.shape[0], img_size, img_size]
        raw["input"] = {"shape": shape, "T": T or inp.T, "encoding": inp.encoding}
    if heads is not None:
        raw["params"] = {**(raw.get("params") or {}), "heads": heads}
    header = (f"# Imported from an official {FAMILIES[family].title} checkpoint{f' ({source})' if source else ''} "
              f"by evsim import, variant {base.stem}.\n")
    return header + yaml.safe_dump(raw, sort_keys=False, default_flow_style=None, allow_unicode=True, width=120)


def check_options(family, T=None, img_size=None, heads=None) -> None:
    from .. import validate
    validate.choice(family, FAMILIES, "family")
    if T is not None:
        validate.integer(T, "T", low=1, high=100_000)
    if img_size is not None:
        validate.integer(img_size, "img_size", low=1, high=65_536)
    if heads is not None:
        if family == "sdt":
            raise EvsimError("--heads does not apply to sdt: SDSA's result does not depend on the heads, and its spec has none",
                             fix="leave --heads out")
        validate.integer(heads, "heads", low=1, high=4096)


def import_checkpoint(family, checkpoint, variant, out_dir, T=None, img_size=None, heads=None, name=None):
    """Write out_dir/model.yaml and out_dir/weights.safetensors; returns (spec, ignored keys).

    Everything is checked before anything is written — options, variant, checkpoint, the spec
    and every weight against it; the folder is built beside ``out_dir`` and replaces it in one
    rename, so a failed import leaves ``out_dir`` as it was."""
    from ..outputs import check_folder, staged_folder
    from ..spec import load_spec
    from ..weights import bind, save
    check_options(family, T, img_size, heads)
    base, label = resolve_variant(family, variant)
    check_folder(out_dir, IMPORTED, "-o")
    state = read_state_dict(checkpoint)
    name = name or f"{base.stem}-imported"
    text = spec_text(family, base, name, T, img_size, heads, Path(str(checkpoint)).name)
    final = Path(out_dir) / IMPORTED[0]
    with staged_folder(out_dir, IMPORTED, "-o") as staging:
        (staging / IMPORTED[0]).write_text(text)
        try:
            spec = load_spec(staging / IMPORTED[0])
        except EvsimError as err:   # name the file the user will see, not the staging folder
            file = str(final) if err.file and str(staging) in err.file else err.file
            raise type(err)(err.bare_message, file=file, line=err.line, layer=err.layer, fix=err.fix) from None
        flat, ignored = to_evsim(state, spec, family, label, str(checkpoint), base.stem)
        save(bind(spec, flat, str(checkpoint)), staging / IMPORTED[1])
    spec.path = str(final)
    return spec, ignored
