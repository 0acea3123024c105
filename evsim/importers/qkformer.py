"""Official QKFormer checkpoints (github.com/zhouchenlin2096/QKFormer) → evsim spec + weights.

evsim's QKFormer layer names are the official module names (evsim/spec/library/qkformer.yaml),
so a state_dict maps onto them key for key; Conv1d [out, in, 1] and 1×1 Conv2d [out, in, 1, 1]
become evsim linears [out, in], and BatchNorm's ``num_batches_tracked`` is dropped. Reading the
checkpoint, binding and writing are the Spikformer importer's (:mod:`evsim.importers.spikformer`).

Layouts (``variant``, the code they come from), with what the tensors cannot tell:
    imagenet  imagenet/qkformer.py — T = 4, 224 × 224 input
    cifar     cifar10/model.py, cifar100/model.py — T = 4, 32 × 32
    dvs       cifar10-dvs/model.py, dvs128-gesture/model.py — T = 16, frames [2, 128, 128]
Depth, width, stage-2 depth, MLP ratio, input channels and classes come from tensor shapes;
the heads (not in any shape) from the user: ImageNet 6/8/12 for 384/512/768, CIFAR 8, DVS 16.
"""
from __future__ import annotations

import re

from ..errors import WeightsError
from .spikformer import IMPORTED, check_options, read_state_dict, write_import

VARIANTS = {
    "imagenet": dict(T=4, img=224, encoding="direct", params={"imagenet": 1, "attn": "attn", "fc": "fc"}),
    "cifar": dict(T=4, img=32, encoding="direct", params={}),
    "dvs": dict(T=16, img=128, encoding="frames", params={"dvs": 1, "p3": "proj"}),
}


def _blocks(state, stage) -> int:
    found = sorted({int(m.group(1)) for k in state if (m := re.match(rf"{stage}\.(\d+)\.", k))})
    if found != list(range(len(found))):
        raise WeightsError(f"{stage} blocks found: {found}; expected {stage}.0 … {stage}.N-1")
    return len(found)


def infer_params(state: dict, variant: str, heads: int, num_classes=None, source="<checkpoint>") -> dict:
    """The library params of a checkpoint: D, depth, stage-2 depth, MLP ratio, classes, heads."""
    if variant not in VARIANTS:
        raise WeightsError(f"unknown variant '{variant}'", fix=f"choose one of {', '.join(VARIANTS)}")
    dvs = variant == "dvs"
    last_embed = "patch_embed2" if dvs else "patch_embed3"
    fc = "fc" if variant == "imagenet" else "mlp"

    three_stages = any(k.startswith("patch_embed3.") for k in state)
    if dvs and three_stages:
        raise WeightsError("the checkpoint has three stages (patch_embed3): not the DVS layout", file=source,
                           fix="try --variant cifar or imagenet")

    def need(key):
        if key not in state:
            other = "mlp1" if fc == "fc" else "fc1"
            hint = ("two stages only (no patch_embed3): try --variant dvs" if not dvs and not three_stages
                    else f"the checkpoint has {other}_conv keys: try --variant {'cifar' if other == 'mlp1' else 'imagenet'}"
                    if any(f".mlp.{other}_conv." in k for k in state) else "is this an official QKFormer checkpoint?")
            raise WeightsError(f"missing '{key}', needed to infer the architecture", file=source, fix=hint)
        return state[key]

    dim = need(f"{last_embed}.proj4_conv.weight").shape[0]
    first_width = need("stage1.0.tssa.q_conv.weight").shape[0]
    hidden = need(f"stage1.0.mlp.{fc}1_conv.weight").shape[0]
    classes = need("head.weight").shape[0]
    if num_classes is not None and num_classes != classes:
        raise WeightsError(f"--num-classes {num_classes}, but the head has {classes} outputs", file=source)
    if hidden % first_width:
        raise WeightsError(f"MLP hidden size {hidden} is not a multiple of the stage width {first_width}", file=source)
    if heads is None or heads < 1 or first_width % heads:
        raise WeightsError(f"--heads must divide the first stage's width {first_width}, got {heads}", file=source,
                           fix="the official configs: ImageNet 10-384/512/768 6/8/12 heads, CIFAR 8, DVS 16")
    stages = [_blocks(state, f"stage{s}") for s in ((1, 2) if dvs else (1, 2, 3))]
    params = {"D": dim, "heads": heads, "depth": sum(stages), "classes": classes, "mlp_ratio": hidden // first_width,
              **VARIANTS[variant]["params"]}
    if not dvs:
        params["s2_depth"] = stages[1]
    return params


def spec_text(params: dict, variant: str, in_channels: int, img_size: int, T: int, name: str) -> str:
    v = VARIANTS[variant]
    values = ", values: integer" if v["encoding"] == "frames" else ""
    listed = ", ".join(f"{k}: {val}" for k, val in params.items())
    return (f"# Imported from an official QKFormer checkpoint ({variant} layout) by evsim import.\n"
            f'extends: "evsim:qkformer.yaml"   # the shared structure, evsim/spec/library/qkformer.yaml\n'
            f"name: {name}\n"
            f"input: {{shape: [{in_channels}, {img_size}, {img_size}], T: {T}, encoding: {v['encoding']}{values}}}\n"
            f"params: {{{listed}}}\n")


def import_checkpoint(checkpoint, variant, heads, out_dir, T=None, img_size=None, num_classes=None, *,
                      name=None, stem=None, dtype=None, metadata=None):
    """Write out_dir/model.yaml and out_dir/weights.safetensors of an official QKFormer checkpoint;
    returns (spec, ignored keys). Everything is checked before anything is written (as for Spikformer)."""
    from .. import validate
    from ..outputs import check_folder
    validate.choice(variant, VARIANTS, "variant")
    check_options(variant, heads, T, img_size, num_classes)
    if stem is None:
        check_folder(out_dir, IMPORTED, "-o")
    state = read_state_dict(checkpoint)
    params = infer_params(state, variant, heads, num_classes, str(checkpoint))
    in_channels = state["patch_embed1.proj_conv.weight"].shape[1]
    v = VARIANTS[variant]
    name = name or f"qkformer-{variant}-{params['depth']}-{params['D']}-imported"
    text = spec_text(params, variant, in_channels, img_size or v["img"], T or v["T"], name)
    return write_import(text, state, checkpoint, out_dir, stem, dtype, metadata)
