"""The official QKFormer architecture in PyTorch + SpikingJelly, written from the structure and
module names of the official code (github.com/zhouchenlin2096/QKFormer: imagenet/qkformer.py,
cifar10/model.py, cifar10-dvs/model.py), with SpikingJelly's CPU backend: evsim must import its
checkpoints and reproduce its outputs spike for spike (tests/test_import_qkformer.py).

Needs the ``torch`` extra; nothing else in evsim imports this module. Maps are [T, B, C, H, W]
throughout, as in the official code. Three layouts (``variant``):

    imagenet  PatchEmbedInit conv → BN → max-pool → LIF twice, a third conv, stride-2 shortcut;
              stages with the max-pool after proj3; SSA module 'attn', MLP fc1_*/fc2_*
    cifar     PatchEmbedInit without pools, stride-1 shortcut; max-pool after proj4; 'ssa', mlp1_*/mlp2_*
    dvs       a four-conv PatchEmbedInit (stride-4 shortcut), one embedding stage (proj_conv, proj4),
              one QKTA and depth − 1 SSA blocks; input [B, T, 2, H, W]
"""
import torch.nn as nn

from .torch_spikformer import lif


class QKTokenAttention(nn.Module):
    """Q-K token attention: K ⊙ LIF_0.5(Σ_{channels of each head} Q), then proj."""

    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        for name in ("q", "k"):
            setattr(self, f"{name}_conv", nn.Conv1d(dim, dim, 1, bias=False))
            setattr(self, f"{name}_bn", nn.BatchNorm1d(dim))
            setattr(self, f"{name}_lif", lif())
        self.attn_lif = lif(0.5)
        self.proj_conv, self.proj_bn, self.proj_lif = nn.Conv1d(dim, dim, 1), nn.BatchNorm1d(dim), lif()

    def branch(self, name, x, T, B, C, N):
        conv, bn, neuron = (getattr(self, f"{name}_{part}") for part in ("conv", "bn", "lif"))
        return neuron(bn(conv(x)).reshape(T, B, C, N))

    def forward(self, x):
        T, B, C, H, W = x.shape
        flat = x.flatten(3).flatten(0, 1)
        q = self.branch("q", flat, T, B, C, H * W).reshape(T, B, self.heads, C // self.heads, H * W)
        k = self.branch("k", flat, T, B, C, H * W).reshape(T, B, self.heads, C // self.heads, H * W)
        gate = self.attn_lif(q.sum(dim=3, keepdim=True))           # one spike per token and head
        y = (k * gate).reshape(T * B, C, H * W)
        return self.proj_lif(self.proj_bn(self.proj_conv(y)).reshape(T, B, C, H, W))


class SpikingSelfAttention(QKTokenAttention):
    """Spikformer's SSA as QKFormer's last stage computes it: LIF_0.5(Q (Kᵀ V) · 0.125), then proj."""

    def __init__(self, dim, heads):
        super().__init__(dim, heads)
        self.v_conv, self.v_bn, self.v_lif = nn.Conv1d(dim, dim, 1, bias=False), nn.BatchNorm1d(dim), lif()

    def forward(self, x):
        T, B, C, H, W = x.shape
        N, d = H * W, C // self.heads
        flat = x.flatten(3).flatten(0, 1)
        q, k, v = (self.branch(n, flat, T, B, C, N).transpose(-1, -2).reshape(T, B, N, self.heads, d).transpose(2, 3)
                   for n in ("q", "k", "v"))                            # [T, B, heads, N, d]
        y = (q @ (k.transpose(-2, -1) @ v)) * 0.125
        y = self.attn_lif(y.transpose(3, 4).reshape(T, B, C, N))
        return self.proj_lif(self.proj_bn(self.proj_conv(y.flatten(0, 1))).reshape(T, B, C, H, W))


class MLP(nn.Module):
    def __init__(self, dim, hidden, prefix):
        super().__init__()
        self.prefix = prefix
        for i, (n_in, n_out) in enumerate(((dim, hidden), (hidden, dim)), start=1):
            setattr(self, f"{prefix}{i}_conv", nn.Conv2d(n_in, n_out, 1))
            setattr(self, f"{prefix}{i}_bn", nn.BatchNorm2d(n_out))
            setattr(self, f"{prefix}{i}_lif", lif())

    def forward(self, x):
        T, B = x.shape[:2]
        for i in (1, 2):
            conv, bn, neuron = (getattr(self, f"{self.prefix}{i}_{part}") for part in ("conv", "bn", "lif"))
            y = bn(conv(x.flatten(0, 1)))
            x = neuron(y.reshape(T, B, *y.shape[1:]))
        return x


class Block(nn.Module):
    """x = x + A(x); x = x + MLP(x) — residual sums of spikes (SEW)."""

    def __init__(self, dim, heads, mlp_ratio, attention, module, prefix):
        super().__init__()
        self.module = module
        setattr(self, module, attention(dim, heads))
        self.mlp = MLP(dim, int(dim * mlp_ratio), prefix)

    def forward(self, x):
        x = x + getattr(self, self.module)(x)
        return x + self.mlp(x)


def unit(model, name, c_in, c_out, kernel=3, stride=1, pool=None):
    """Register <name>_conv, <name>_bn, [a max-pool named ``pool``,] <name>_lif on ``model``."""
    setattr(model, f"{name}_conv", nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, bias=False))
    setattr(model, f"{name}_bn", nn.BatchNorm2d(c_out))
    if pool:
        setattr(model, pool, nn.MaxPool2d(3, 2, 1))
    setattr(model, f"{name}_lif", lif())


def run_unit(model, name, x, pool=None):
    """conv → BN [→ max-pool] → LIF on [T, B, C, H, W]."""
    T, B = x.shape[:2]
    y = getattr(model, f"{name}_bn")(getattr(model, f"{name}_conv")(x.flatten(0, 1)))
    if pool:
        y = getattr(model, pool)(y)
    return getattr(model, f"{name}_lif")(y.reshape(T, B, *y.shape[1:]))


class PatchEmbedInit(nn.Module):
    """The first embedding to E channels (``layout``: imagenet, cifar or dvs)."""

    def __init__(self, c_in, E, layout):
        super().__init__()
        self.layout = layout
        if layout == "dvs":
            self.path = [("proj", None), ("proj1", "maxpool1"), ("proj2", "maxpool2"), ("proj3", "maxpool3")]
            widths = [c_in, E // 8, E // 4, E // 2, E]
            self.shortcut_from, stride = "proj1", 4
        else:
            imagenet = layout == "imagenet"
            self.path = [("proj", "proj_maxpool" if imagenet else None), ("proj1", "proj1_maxpool" if imagenet else None)]
            self.path += [("proj2", None)] if imagenet else []
            widths = [c_in, E // 2, E] + ([E] if imagenet else [])
            self.shortcut_from, stride = "proj", 2 if imagenet else 1
        for (name, pool), n_in, n_out in zip(self.path, widths, widths[1:]):
            unit(self, name, n_in, n_out, pool=pool)
        unit(self, "proj_res", widths[2 if layout == "dvs" else 1], E, kernel=1, stride=stride)

    def forward(self, x):
        for name, pool in self.path:
            x = run_unit(self, name, x, pool)
            if name == self.shortcut_from:
                feature = x
        return x + run_unit(self, "proj_res", feature)


class PatchEmbeddingStage(nn.Module):
    """E/2 → E channels at half the resolution: <first> → proj4, shortcut proj_res (1×1, stride 2)."""

    def __init__(self, E, layout):
        super().__init__()
        self.first = "proj" if layout == "dvs" else "proj3"
        self.pools = ("proj3_maxpool", None) if layout == "imagenet" else (None, "proj4_maxpool")
        unit(self, self.first, E // 2, E, pool=self.pools[0])
        unit(self, "proj4", E, E, pool=self.pools[1])
        unit(self, "proj_res", E // 2, E, kernel=1, stride=2)

    def forward(self, x):
        y = run_unit(self, "proj4", run_unit(self, self.first, x, self.pools[0]), self.pools[1])
        return y + run_unit(self, "proj_res", x)


class QKFormer(nn.Module):
    def __init__(self, variant, dim, heads, depth, classes, in_channels, T, mlp_ratio=4, s2_depth=None):
        super().__init__()
        self.variant, self.T = variant, T
        module, prefix = ("attn", "fc") if variant == "imagenet" else ("ssa", "mlp")
        qk = lambda c: Block(c, heads, mlp_ratio, QKTokenAttention, "tssa", prefix)  # noqa: E731
        ssa = lambda c: Block(c, heads, mlp_ratio, SpikingSelfAttention, module, prefix)  # noqa: E731
        if variant == "dvs":
            self.patch_embed1, self.stage1 = PatchEmbedInit(in_channels, dim // 2, "dvs"), nn.ModuleList([qk(dim // 2)])
            self.patch_embed2 = PatchEmbeddingStage(dim, "dvs")
            self.stage2 = nn.ModuleList([ssa(dim) for _ in range(depth - 1)])
            self.stages = 2
        else:
            s2_depth = s2_depth if s2_depth is not None else (2 if variant == "imagenet" else 1)
            self.patch_embed1, self.stage1 = PatchEmbedInit(in_channels, dim // 4, variant), nn.ModuleList([qk(dim // 4)])
            self.patch_embed2 = PatchEmbeddingStage(dim // 2, variant)
            self.stage2 = nn.ModuleList([qk(dim // 2) for _ in range(s2_depth)])
            self.patch_embed3 = PatchEmbeddingStage(dim, variant)
            self.stage3 = nn.ModuleList([ssa(dim) for _ in range(depth - 1 - s2_depth)])
            self.stages = 3
        self.head = nn.Linear(dim, classes)

    def forward(self, x):
        x = x.permute(1, 0, 2, 3, 4) if self.variant == "dvs" else x.unsqueeze(0).repeat(self.T, 1, 1, 1, 1)
        for s in range(1, self.stages + 1):
            x = getattr(self, f"patch_embed{s}")(x)
            for block in getattr(self, f"stage{s}"):
                x = block(x)
        return self.head(x.flatten(3).mean(3).mean(0))
