"""The official Spikingformer architecture in PyTorch + SpikingJelly, re-created from the
official code's structure and module names (github.com/zhouchenlin2096/Spikingformer,
cifar10/model.py and imagenet/model.py; cifar100/model.py is cifar10's): evsim imports its
checkpoints (evsim/importers/spike_driven.py) and must reproduce its forward pass spike for
spike (tests/test_import_zoo.py). The state_dict keys are the official ones, so an official
checkpoint loads with ``strict=True``.

Needs the ``torch`` extra (torch and spikingjelly); nothing else in evsim imports this module.
The official LIF nodes ask for SpikingJelly's cupy backend; these use its torch backend (the
same arithmetic: H = V + (X − V)/τ, fire H ≥ V_th, hard reset to 0, τ = 2).

Spike-driven residual learning: every block's residual stream carries BatchNorm outputs (real
values), and a LIF precedes every conv, so each synaptic input after the first conv is binary.

Two layouts, which differ only in the tokenizer and in the attention's multiplication order:
    cifar     tokenizer modules block0_conv … block4_bn, max-pool (block3_mp, block4_mp) before
              the last two convs only; attention ((Q Kᵀ) V) · 0.125
    imagenet  tokenizer modules proj_conv, proj1_lif … proj4_bn, max-pool (maxpool1 … maxpool4)
              before convs 1–4; attention (Q (Kᵀ V)) · 0.125
Both: q/k/v Conv1d k=1 without bias, proj_conv Conv1d k=1 with bias, MLP 1×1 Conv2d with bias,
LayerNorms norm1/norm2 built but never called, head on the mean over tokens and time steps.
The official ``forward_features`` / ``forward`` are kept: x [B, C, H, W] → logits [B, classes].
"""
import torch.nn as nn
from spikingjelly.clock_driven.neuron import MultiStepLIFNode

LAYOUTS = ("cifar", "imagenet")


def lif(v_threshold=1.0):
    return MultiStepLIFNode(tau=2.0, v_threshold=v_threshold, detach_reset=True, backend="torch")


def _steps(module, x):
    """A per-frame module over [T, B, ...] (the official flatten(0, 1) … reshape(T, B, …))."""
    y = module(x.flatten(0, 1))
    return y.reshape(*x.shape[:2], *y.shape[1:])


class MLP(nn.Module):
    """LIF → 1×1 conv → BN, twice; input and output [T, B, C, H, W]."""

    def __init__(self, in_features, hidden_features):
        super().__init__()
        self.mlp1_lif = lif()
        self.mlp1_conv = nn.Conv2d(in_features, hidden_features, kernel_size=1, stride=1)
        self.mlp1_bn = nn.BatchNorm2d(hidden_features)
        self.mlp2_lif = lif()
        self.mlp2_conv = nn.Conv2d(hidden_features, in_features, kernel_size=1, stride=1)
        self.mlp2_bn = nn.BatchNorm2d(in_features)

    def forward(self, x):
        x = _steps(lambda s: self.mlp1_bn(self.mlp1_conv(s)), self.mlp1_lif(x))
        return _steps(lambda s: self.mlp2_bn(self.mlp2_conv(s)), self.mlp2_lif(x))


class SpikingSelfAttention(nn.Module):
    """proj_lif → q/k/v (Conv1d, BN, LIF) → spike products · 0.125 → attn_lif (V_th 0.5) →
    proj_conv → proj_bn; input and output [T, B, C, H, W]."""

    def __init__(self, dim, num_heads, layout):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim {dim} should be divided by num_heads {num_heads}")
        self.dim, self.num_heads, self.layout, self.scale = dim, num_heads, layout, 0.125
        self.proj_lif = lif()
        for name in "qkv":
            setattr(self, f"{name}_conv", nn.Conv1d(dim, dim, kernel_size=1, stride=1, bias=False))
            setattr(self, f"{name}_bn", nn.BatchNorm1d(dim))
            setattr(self, f"{name}_lif", lif())
        self.attn_lif = lif(0.5)
        self.proj_conv = nn.Conv1d(dim, dim, kernel_size=1, stride=1)
        self.proj_bn = nn.BatchNorm1d(dim)

    def _heads(self, name, x):
        """[T, B, C, N] spikes of q, k or v → [T, B, heads, N, C / heads]."""
        T, B, C, N = x.shape
        y = getattr(self, f"{name}_lif")(_steps(lambda s: getattr(self, f"{name}_bn")(getattr(self, f"{name}_conv")(s)), x))
        return y.transpose(-1, -2).reshape(T, B, N, self.num_heads, C // self.num_heads).permute(0, 1, 3, 2, 4)

    def forward(self, x):
        T, B, C, H, W = x.shape
        x = self.proj_lif(x).flatten(3)
        q, k, v = (self._heads(name, x) for name in "qkv")
        if self.layout == "cifar":
            x = ((q @ k.transpose(-2, -1)) @ v) * self.scale
        else:
            x = (q @ (k.transpose(-2, -1) @ v)) * self.scale
        x = self.attn_lif(x.transpose(3, 4).reshape(T, B, C, H * W))
        return _steps(lambda s: self.proj_bn(self.proj_conv(s)), x).reshape(T, B, C, H, W)


class SpikingTransformer(nn.Module):
    """x + attn(x), then x + mlp(x) (the residual stream is never a spike)."""

    def __init__(self, dim, num_heads, mlp_ratio, layout):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)   # built, never called (as in the official code)
        self.attn = SpikingSelfAttention(dim, num_heads, layout)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = MLP(dim, int(dim * mlp_ratio))

    def forward(self, x):
        x = x + self.attn(x)
        return x + self.mlp(x)


class SpikingTokenizer(nn.Module):
    """conv → BN on pixels, then four times LIF → [max-pool] → conv → BN (widths D/8, D/4,
    D/2, D, D); output [T, B, D, H/4, W/4] (CIFAR) or [T, B, D, H/16, W/16] (ImageNet)."""

    def __init__(self, in_channels, embed_dims, layout):
        super().__init__()
        self.layout = layout
        widths = [in_channels, embed_dims // 8, embed_dims // 4, embed_dims // 2, embed_dims, embed_dims]
        first = "block0" if layout == "cifar" else "proj"
        setattr(self, f"{first}_conv", nn.Conv2d(widths[0], widths[1], kernel_size=3, stride=1, padding=1, bias=False))
        setattr(self, f"{first}_bn", nn.BatchNorm2d(widths[1]))
        for i in range(1, 5):
            stage = self._stage(i)
            setattr(self, f"{stage}_lif", lif())
            if self._pool(i):
                setattr(self, self._pool(i), nn.MaxPool2d(kernel_size=3, stride=2, padding=1, dilation=1, ceil_mode=False))
            setattr(self, f"{stage}_conv", nn.Conv2d(widths[i], widths[i + 1], kernel_size=3, stride=1, padding=1, bias=False))
            setattr(self, f"{stage}_bn", nn.BatchNorm2d(widths[i + 1]))

    def _stage(self, i):
        return f"block{i}" if self.layout == "cifar" else f"proj{i}"

    def _pool(self, i):
        if self.layout == "cifar":
            return f"block{i}_mp" if i >= 3 else None
        return f"maxpool{i}"

    def forward(self, x):
        first = "block0" if self.layout == "cifar" else "proj"
        x = _steps(lambda s: getattr(self, f"{first}_bn")(getattr(self, f"{first}_conv")(s)), x)
        for i in range(1, 5):
            stage, pool = self._stage(i), self._pool(i)
            x = getattr(self, f"{stage}_lif")(x)
            if pool:
                x = _steps(getattr(self, pool), x)
            x = _steps(lambda s, st=stage: getattr(self, f"{st}_bn")(getattr(self, f"{st}_conv")(s)), x)
        return x


class Spikingformer(nn.Module):
    """The official ``vit_snn`` (registered as ``Spikingformer``) with its module names:
    patch_embed, block.0 … block.{depths−1}, head."""

    def __init__(self, layout, embed_dims, num_heads, depths, num_classes, in_channels=3, mlp_ratios=4, T=4):
        super().__init__()
        if layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
        self.T = T
        self.patch_embed = SpikingTokenizer(in_channels, embed_dims, layout)
        self.block = nn.ModuleList([SpikingTransformer(embed_dims, num_heads, mlp_ratios, layout) for _ in range(depths)])
        self.head = nn.Linear(embed_dims, num_classes)

    def forward_features(self, x):
        x = self.patch_embed(x)
        for blk in self.block:
            x = blk(x)
        return x.flatten(3).mean(3)

    def forward(self, x):
        x = x.unsqueeze(0).repeat(self.T, 1, 1, 1, 1)
        return self.head(self.forward_features(x).mean(0))


def from_spec(spec, layout=None):
    """A Spikingformer shaped like an evsim Spikingformer spec (float64, eval mode); the layout
    follows the spec's tokenizer names unless given."""
    layout = layout or ("cifar" if "patch_embed.block0_conv" in spec.layers else "imagenet")
    dim = spec.shapes["patch_embed.tokens"][1]
    depth = len({name.split(".")[1] for name in spec.layers if name.startswith("block.")})
    mlp_ratio = spec.shapes["block.0.mlp.mlp1_conv"][1] // dim
    return Spikingformer(layout, dim, spec.layers["block.0.attn.ssa"].heads, depth, spec.shapes["head"][0],
                         spec.input.shape[0], mlp_ratio, spec.input.T).double().eval()
