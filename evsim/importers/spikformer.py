"""Official Spikformer checkpoints (github.com/ZK-Zhou/spikformer) ⇄ evsim spec + weights.

evsim's Spikformer layer names are the official module names, so a state_dict maps onto
them key for key; what differs is tensor shape (Conv1d [out, in, 1] and 1×1 Conv2d
[out, in, 1, 1] are evsim linears [out, in]) and the keys evsim has no use for: the
LayerNorms the official code builds but never calls (``norm1``, ``norm2``, ``norm``), the
DVS model's unused ``pos_embed``, and BatchNorm's ``num_batches_tracked``.

Layouts (``variant``):
    cifar     *_linear (nn.Linear with bias), max-pool after SPS convs 2 and 3, (Q Kᵀ) V
    imagenet  q/k/v_conv Conv1d without bias, proj_conv Conv1d, fc1/fc2_conv 1×1 Conv2d,
              max-pool after every SPS conv, Q (Kᵀ V), scale 0.125
    dvs       like imagenet but every block conv is a Conv1d, (Q Kᵀ) V, scale 0.25, frames input
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import WeightsError
from ..kinds.linear import Linear

VARIANTS = {
    "cifar": dict(lin="linear", order="qk_first", scale=0.125, early_pool=0, T=4, img=32, encoding="direct"),
    "imagenet": dict(lin="conv", order="kv_first", scale=0.125, early_pool=1, T=4, img=224, encoding="direct"),
    "dvs": dict(lin="conv", order="qk_first", scale=0.25, early_pool=1, T=16, img=128, encoding="frames"),
}
# The params evsim/spec/library/spikformer.yaml sets (the CIFAR layout): an imported spec
# writes the others and only those of these that differ, as the specs in models/ do.
LIBRARY_DEFAULTS = {"mlp_ratio": 4, "scale": 0.125, "order": "qk_first", "lin": "linear", "qkv_bias": True,
                    "early_pool": 0}
UNUSED = re.compile(r"(^|\.)(norm\d?\.(weight|bias)|pos_embed|num_batches_tracked)$")
WRAPPERS = ("state_dict", "model", "model_ema", "module")


def _torch():
    try:
        import torch
    except ImportError:
        raise WeightsError("reading PyTorch checkpoints needs torch",
                           fix="pip install 'evsim[torch]' (torch 2.13.0 CPU)") from None
    return torch


def read_state_dict(path) -> dict[str, np.ndarray]:
    """A ``torch.save``d state_dict, bare or wrapped ({'state_dict': …}, {'model': …},
    'module.' prefixes), as float64 NumPy arrays."""
    import argparse
    torch = _torch()
    try:
        # timm's CheckpointSaver (the official training scripts) stores its argparse.Namespace
        # beside the weights: allowed, nothing else beyond what weights_only reads
        with torch.serialization.safe_globals([argparse.Namespace]):
            obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise WeightsError("no such checkpoint", file=str(path)) from None
    except Exception as err:
        pickled = re.search(r"Unsupported global: GLOBAL [\w.]+", str(err))   # torch's message runs to paragraphs
        first = pickled.group(0) if pickled else next(iter(str(err).strip().splitlines()), "")
        fix = ("it must be a torch.save'd state_dict (.pth or .pth.tar); a checkpoint that pickles other objects: "
               "if you trust it, re-save its weights alone with torch.save(torch.load(F, weights_only=False)"
               "['state_dict'], 'weights.pth')")
        raise WeightsError(f"cannot read checkpoint ({type(err).__name__}: {first})", file=str(path), fix=fix) from None
    while isinstance(obj, dict) and not any(torch.is_tensor(v) for v in obj.values()):
        inner = next((obj[k] for k in WRAPPERS if k in obj and isinstance(obj[k], dict)), None)
        if inner is None:
            raise WeightsError(f"no state_dict inside (top-level keys: {', '.join(map(str, list(obj)[:8]))})", file=str(path),
                               fix="save model.state_dict(), or a dict holding it under 'state_dict' or 'model'")
        obj = inner
    if not isinstance(obj, dict):
        raise WeightsError(f"a checkpoint holding a {type(obj).__name__}, not a state_dict", file=str(path))
    out = {}
    for key, value in obj.items():
        if torch.is_tensor(value):
            out[re.sub(r"^(module\.)+", "", key)] = value.detach().to(torch.float64).numpy() if value.is_floating_point() \
                else value.detach().numpy()
    return out


@dataclass
class Architecture:
    variant: str
    embed_dim: int
    depth: int
    heads: int
    classes: int
    mlp_ratio: int
    in_channels: int
    img_size: int
    T: int
    qkv_bias: bool

    def params(self) -> dict:
        v = VARIANTS[self.variant]
        return {"D": self.embed_dim, "heads": self.heads, "depth": self.depth, "classes": self.classes,
                "mlp_ratio": self.mlp_ratio, "scale": v["scale"], "order": v["order"], "lin": v["lin"],
                "qkv_bias": self.qkv_bias, "early_pool": v["early_pool"]}


def infer_architecture(state: dict, variant: str, heads: int, T=None, img_size=None, num_classes=None,
                       source="<checkpoint>") -> Architecture:
    """Depth and dimensions from tensor shapes; heads (not in any shape) from the user."""
    if variant not in VARIANTS:
        raise WeightsError(f"unknown variant '{variant}'", fix=f"choose one of {', '.join(VARIANTS)}")
    lin = VARIANTS[variant]["lin"]

    def need(key):
        if key not in state:
            other = "conv" if lin == "linear" else "linear"
            hint = (f"the checkpoint has *_{other} keys: try --variant {'cifar' if other == 'linear' else 'imagenet or dvs'}"
                    if any(k.endswith(f"q_{other}.weight") for k in state) else "is this an official Spikformer checkpoint?")
            raise WeightsError(f"missing '{key}', needed to infer the architecture", file=source, fix=hint)
        return state[key]

    embed_dim, in_channels = need("patch_embed.proj_conv3.weight").shape[0], need("patch_embed.proj_conv.weight").shape[1]
    blocks = sorted({int(m.group(1)) for k in state if (m := re.match(r"block\.(\d+)\.", k))})
    if not blocks or blocks != list(range(len(blocks))):
        raise WeightsError(f"blocks found: {blocks}; expected block.0 … block.N-1", file=source)
    hidden = need(f"block.0.mlp.fc1_{lin}.weight").shape[0]
    if hidden % embed_dim:
        raise WeightsError(f"MLP hidden size {hidden} is not a multiple of the embedding {embed_dim}", file=source)
    classes = need("head.weight").shape[0]
    if num_classes is not None and num_classes != classes:
        raise WeightsError(f"--num-classes {num_classes}, but the head has {classes} outputs", file=source)
    if heads is None or heads < 1 or embed_dim % heads:
        raise WeightsError(f"--heads must divide the embedding dimension {embed_dim}, got {heads}", file=source,
                           fix="the official configs: CIFAR 4-384 12 heads, ImageNet 8-512 8 heads, DVS 2-256 16 heads")
    v = VARIANTS[variant]
    return Architecture(variant, embed_dim, len(blocks), heads, classes, hidden // embed_dim, in_channels,
                        img_size or v["img"], T or v["T"], f"block.0.attn.q_{lin}.bias" in state)


def spec_text(arch: Architecture, name: str, description: str | None = None, comment: str | None = None) -> str:
    """The spec of an imported model: the shared structure extended with its input and the
    params that differ from the library's (``comment``: header lines, without '#')."""
    v = VARIANTS[arch.variant]
    values = ", values: integer" if v["encoding"] == "frames" else ""
    params = ", ".join(f"{k}: {str(val).lower() if isinstance(val, bool) else val}" for k, val in arch.params().items()
                       if k not in LIBRARY_DEFAULTS or LIBRARY_DEFAULTS[k] != val)
    comment = comment or f"Imported from an official Spikformer checkpoint ({arch.variant} layout) by evsim import."
    header = "".join(f"# {line}".rstrip() + "\n" for line in comment.splitlines())
    described = f"description: {json.dumps(description, ensure_ascii=False)}\n" if description else ""
    return (header +
            f'extends: "evsim:spikformer.yaml"   # the shared structure, evsim/spec/library/spikformer.yaml\n'
            f"name: {name}\n" + described +
            f"input: {{shape: [{arch.in_channels}, {arch.img_size}, {arch.img_size}], T: {arch.T}, "
            f"encoding: {v['encoding']}{values}}}\n"
            f"params: {{{params}}}\n")


def to_evsim(state: dict, spec, source="<checkpoint>") -> tuple[dict, list[str]]:
    """Official keys → evsim's flat weights (shapes squeezed); returns (weights, ignored keys)."""
    expected = {f"{layer}.{key}": shape for layer, shapes in spec.parameter_shapes().items() for key, shape in shapes.items()}
    flat, ignored = {}, []
    for key, value in state.items():
        if key in expected:
            want = expected[key]
            if value.shape != want and value.size == int(np.prod(want)) and value.shape[:len(want)] == want:
                value = value.reshape(want)  # Conv1d [o, i, 1] / 1×1 Conv2d [o, i, 1, 1] → [o, i]
            flat[key] = value
        elif UNUSED.search(key):
            ignored.append(key)
        else:
            raise WeightsError(f"key '{key}' has no place in the {spec.name} spec", file=source,
                               fix="check --variant; the official layouts are cifar, imagenet and dvs")
    return flat, ignored


IMPORTED = ("model.yaml", "weights.safetensors")


def check_options(variant, heads, T=None, img_size=None, num_classes=None) -> None:
    """The user's import options, before anything is read."""
    from .. import validate
    validate.choice(variant, VARIANTS, "variant")
    validate.integer(heads, "heads", low=1, high=4096)
    if T is not None:
        validate.integer(T, "T", low=1, high=100_000)
    if img_size is not None:
        validate.integer(img_size, "img_size", low=1, high=65_536)
    if num_classes is not None:
        validate.integer(num_classes, "num_classes", low=1, high=10**7)


def _convert(spec_path, text, state, checkpoint, final, dtype):
    """Write the spec text at ``spec_path``, read it back and bind the converted weights to
    it: (spec, params, ignored keys). Errors name ``final``, the file the user will see."""
    from ..errors import EvsimError
    from ..spec import load_spec
    from ..weights import bind
    spec_path.write_text(text)
    try:
        spec = load_spec(spec_path)
    except EvsimError as err:
        file = str(final) if err.file and str(spec_path.parent) in err.file else err.file
        raise type(err)(err.bare_message, file=file, line=err.line, layer=err.layer, fix=err.fix) from None
    flat, ignored = to_evsim(state, spec, str(checkpoint))
    params = bind(spec, flat, str(checkpoint))
    if dtype is not None:
        params = {layer: {key: value.astype(dtype) for key, value in entry.items()} for layer, entry in params.items()}
    return spec, params, ignored


def import_checkpoint(checkpoint, variant, heads, out_dir, T=None, img_size=None, num_classes=None, *,
                      name=None, description=None, comment=None, stem=None, dtype=None, metadata=None):
    """Write out_dir/model.yaml and out_dir/weights.safetensors (``stem``: out_dir/STEM.yaml and
    out_dir/STEM.safetensors, beside whatever else the folder holds); returns (spec, ignored keys).

    ``name``, ``description``, ``comment``: the spec's name, description and header comment;
    ``dtype``: the stored weights' float type (default float64; float32 is exact for a
    float32-trained checkpoint and half the size); ``metadata``: {str: str} written into the
    safetensors header (evsim.weights.read_metadata reads it back).

    Everything is checked before anything is written — options, checkpoint, architecture, the
    spec and every weight against it. Without ``stem`` the folder is built beside ``out_dir``
    and replaces it in one rename: a failed import leaves ``out_dir`` exactly as it was."""
    from ..outputs import check_folder
    check_options(variant, heads, T, img_size, num_classes)
    if stem is None:
        check_folder(out_dir, IMPORTED, "-o")
    state = read_state_dict(checkpoint)
    arch = infer_architecture(state, variant, heads, T, img_size, num_classes, str(checkpoint))
    name = name or f"spikformer-{variant}-{arch.depth}-{arch.embed_dim}-imported"
    return write_import(spec_text(arch, name, description, comment), state, checkpoint, out_dir, stem, dtype, metadata)


def write_import(text, state, checkpoint, out_dir, stem=None, dtype=None, metadata=None):
    """Write an imported model — its spec ``text`` and the checkpoint's ``state`` bound to it — as
    out_dir/model.yaml + weights.safetensors (or STEM.yaml + STEM.safetensors beside other files),
    every weight checked against the spec before anything is written; returns (spec, ignored keys)."""
    import tempfile

    from ..files import write_atomic
    from ..outputs import staged_folder
    from ..spec import load_spec
    from ..weights import save
    spec_name, weights_name = (f"{stem}.yaml", f"{stem}.safetensors") if stem else IMPORTED
    final = Path(out_dir) / spec_name
    if stem is None:
        with staged_folder(out_dir, IMPORTED, "-o") as staging:
            spec, params, ignored = _convert(staging / spec_name, text, state, checkpoint, final, dtype)
            save(params, staging / weights_name, metadata=metadata)
        spec.path = str(final)
        return spec, ignored
    with tempfile.TemporaryDirectory() as tmp:   # a folder of other files (models/): check first, then write both
        _, params, ignored = _convert(Path(tmp) / spec_name, text, state, checkpoint, final, dtype)
    save(params, Path(out_dir) / weights_name, metadata=metadata)
    write_atomic(final, lambda path: Path(path).write_text(text))
    return load_spec(final), ignored


def export_state_dict(spec, params, variant) -> dict:
    """evsim weights → a state_dict in the official layout (numpy arrays), loadable with
    strict=True: linears reshaped to Conv1d / 1×1 Conv2d where the official code has them,
    identity LayerNorms and zero num_batches_tracked added for the unused keys. A spec that is
    not in the official layout of ``variant`` is refused (:func:`check_official_layout`)."""
    from .. import validate
    validate.choice(variant, VARIANTS, "variant")
    if "patch_embed.tokens" not in spec.shapes or "head" not in spec.layers:
        raise WeightsError("the spec is not in the official Spikformer layout (no 'patch_embed.tokens' or 'head' layer)",
                           file=spec.path, fix="export works for specs that extend evsim:spikformer.yaml")
    out = {}
    for layer, entry in params.items():
        for key, value in entry.items():
            if isinstance(spec.layers[layer], Linear) and key == "weight" and layer.split(".")[-1].endswith("_conv"):
                conv2d = variant == "imagenet" and ".mlp." in f".{layer}."
                value = value[:, :, None, None] if conv2d else value[:, :, None]
            out[f"{layer}.{key}"] = value
        if "running_mean" in entry:  # a BatchNorm: PyTorch keeps a counter beside its statistics
            out[f"{layer}.num_batches_tracked"] = np.zeros((), dtype=np.int64)
    d = spec.shapes["patch_embed.tokens"][1]
    blocks = sorted({int(m.group(1)) for k in out if (m := re.match(r"block\.(\d+)\.", k))})
    for i in blocks:
        for norm in ("norm1", "norm2"):
            out[f"block.{i}.{norm}.weight"], out[f"block.{i}.{norm}.bias"] = np.ones(d), np.zeros(d)
    if variant == "dvs":
        out["pos_embed"] = np.zeros((1, spec.shapes["patch_embed.tokens"][0], d))
        out["norm.weight"], out["norm.bias"] = np.ones(d), np.zeros(d)
    check_official_layout(spec, out, variant)
    return out


def check_official_layout(spec, state: dict, variant: str) -> None:
    """The exported state_dict must import back onto the same spec, key for key and shape for
    shape — otherwise the official code could not load it."""
    import tempfile

    from ..errors import EvsimError
    from ..spec import load_spec
    heads = next((getattr(l, "heads", None) for l in spec.layers.values() if getattr(l, "kind", "") == "attention"), None)
    shape = spec.input.shape
    try:
        arch = infer_architecture(state, variant, heads, spec.input.T, shape[-1] if len(shape) == 3 else None,
                                  source=spec.path)
        with tempfile.TemporaryDirectory() as folder:
            spec_path = Path(folder) / "official.yaml"
            spec_path.write_text(spec_text(arch, "official"))
            official = load_spec(spec_path)
        flat, _ = to_evsim(state, official, spec.path)
    except EvsimError as err:
        raise WeightsError(f"the spec is not in the official Spikformer {variant} layout ({err.bare_message})",
                           file=spec.path, fix="export works for specs that extend evsim:spikformer.yaml with that variant's params") from None
    ours = {f"{layer}.{key}": shape for layer, shapes in spec.parameter_shapes().items() for key, shape in shapes.items()}
    theirs = {f"{layer}.{key}": shape for layer, shapes in official.parameter_shapes().items() for key, shape in shapes.items()}
    if ours != theirs or set(flat) != set(theirs):
        differ = sorted(set(ours) ^ set(theirs)) or sorted(k for k in ours if ours[k] != theirs.get(k))
        raise WeightsError(f"the spec is not in the official Spikformer {variant} layout (differs at "
                           f"{', '.join(differ[:3]) or 'its parameters'})", file=spec.path,
                           fix="check --variant, or export a spec that extends evsim:spikformer.yaml")


def save_state_dict(state: dict, path) -> None:
    torch = _torch()
    from ..outputs import write_output
    tensors = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in state.items()}
    write_output(path, lambda f: torch.save(tensors, f), "pth")
