"""The official Spike-Driven Transformer (SDT v1) in PyTorch + SpikingJelly, re-created from
the official code's structure and module names (github.com/BICLab/Spike-Driven-Transformer,
module/sps.py MS_SPS, module/ms_conv.py MS_SSA_Conv, MS_MLP_Conv, MS_Block_Conv,
model/spikeformer.py SpikeDrivenTransformer): evsim imports its checkpoints
(evsim/importers/spike_driven.py) and must reproduce its forward pass spike for spike
(tests/test_import_zoo.py). The state_dict keys are the official ones, so an official
checkpoint loads with ``strict=True``.

Needs the ``torch`` extra (torch and spikingjelly); nothing else in evsim imports this module.
The official LIF nodes ask for SpikingJelly's cupy backend; these use its torch backend (the
same arithmetic). Only what the published CIFAR and ImageNet models run is re-created:
``spike_mode="lif"``, ``dvs_mode=False`` (no Erode pooling), ``TET=False``; the ``hook``
argument of the official forwards, which only records tensors, is left out.

What the official code builds but never calls is built here too, so its keys are there:
``patch_embed.rpe_lif`` and ``attn.attn_lif`` (no parameters) and the ``attn.talking_heads``
Conv1d (heads² weights per block) — SDSA feeds Σ_tokens K ⊙ V straight to talking_heads_lif.
"""
import torch.nn as nn
from spikingjelly.clock_driven.neuron import MultiStepLIFNode


def lif(v_threshold=1.0):
    return MultiStepLIFNode(tau=2.0, v_threshold=v_threshold, detach_reset=True, backend="torch")


def _steps(module, x):
    """A per-frame module over [T, B, ...] (the official flatten(0, 1) … reshape(T, B, …))."""
    y = module(x.flatten(0, 1))
    return y.reshape(*x.shape[:2], *y.shape[1:])


def _pool():
    return nn.MaxPool2d(kernel_size=3, stride=2, padding=1, dilation=1, ceil_mode=False)


class MS_SPS(nn.Module):  # noqa: N801 (the official class name)
    """Four conv → BN stages (widths D/8, D/4, D/2, D) with LIFs between them, max-pools where
    ``pooling_stat`` has a '1' ("0011" CIFAR, "1111" ImageNet; the fourth pools the BN output
    before proj_lif3), and the relative position embedding: x_feat + rpe_bn(rpe_conv(spikes))."""

    def __init__(self, in_channels, embed_dims, pooling_stat="1111"):
        super().__init__()
        self.pooling_stat = pooling_stat
        widths = [in_channels, embed_dims // 8, embed_dims // 4, embed_dims // 2, embed_dims]
        for i, suffix in enumerate(["", "1", "2", "3"]):
            setattr(self, f"proj_conv{suffix}", nn.Conv2d(widths[i], widths[i + 1], kernel_size=3, stride=1, padding=1,
                                                          bias=False))
            setattr(self, f"proj_bn{suffix}", nn.BatchNorm2d(widths[i + 1]))
            setattr(self, f"proj_lif{suffix}", lif())
            setattr(self, f"maxpool{suffix}", _pool())
        self.rpe_conv = nn.Conv2d(embed_dims, embed_dims, kernel_size=3, stride=1, padding=1, bias=False)
        self.rpe_bn = nn.BatchNorm2d(embed_dims)
        self.rpe_lif = lif()   # built, never called

    def forward(self, x):
        for i, suffix in enumerate(["", "1", "2"]):
            x = _steps(lambda s, f=suffix: getattr(self, f"proj_bn{f}")(getattr(self, f"proj_conv{f}")(s)), x)
            x = getattr(self, f"proj_lif{suffix}")(x)
            if self.pooling_stat[i] == "1":
                x = _steps(getattr(self, f"maxpool{suffix}"), x)
        x_feat = _steps(lambda s: self.proj_bn3(self.proj_conv3(s)), x)
        if self.pooling_stat[3] == "1":
            x_feat = _steps(self.maxpool3, x_feat)
        x = self.proj_lif3(x_feat)
        return _steps(lambda s: self.rpe_bn(self.rpe_conv(s)), x) + x_feat


class MS_SSA_Conv(nn.Module):  # noqa: N801
    """Spike-driven self-attention with a membrane shortcut: shortcut_lif → q/k/v (1×1 conv,
    BN, LIF) → per head and channel Σ_tokens K ⊙ V → talking_heads_lif (V_th 0.5) → Q ⊙ that →
    proj_conv → proj_bn, plus the block's input; [T, B, C, H, W] in and out."""

    def __init__(self, dim, num_heads=8):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"dim {dim} should be divided by num_heads {num_heads}")
        self.dim, self.num_heads, self.scale = dim, num_heads, 0.125
        for name in "qkv":
            setattr(self, f"{name}_conv", nn.Conv2d(dim, dim, kernel_size=1, stride=1, bias=False))
            setattr(self, f"{name}_bn", nn.BatchNorm2d(dim))
            setattr(self, f"{name}_lif", lif())
        self.attn_lif = lif(0.5)   # built, never called
        self.talking_heads = nn.Conv1d(num_heads, num_heads, kernel_size=1, stride=1, bias=False)  # never called
        self.talking_heads_lif = lif(0.5)
        self.proj_conv = nn.Conv2d(dim, dim, kernel_size=1, stride=1)
        self.proj_bn = nn.BatchNorm2d(dim)
        self.shortcut_lif = lif()

    def _heads(self, name, x):
        """[T, B, C, H, W] shortcut spikes → q, k or v spikes [T, B, heads, N, C / heads]."""
        T, B, C, H, W = x.shape
        y = getattr(self, f"{name}_lif")(_steps(lambda s: getattr(self, f"{name}_bn")(getattr(self, f"{name}_conv")(s)), x))
        return y.flatten(3).transpose(-1, -2).reshape(T, B, H * W, self.num_heads, C // self.num_heads).permute(0, 1, 3, 2, 4)

    def forward(self, x):
        T, B, C, H, W = x.shape
        identity = x
        x = self.shortcut_lif(x)
        q, k, v = (self._heads(name, x) for name in "qkv")
        kv = self.talking_heads_lif(k.mul(v).sum(dim=-2, keepdim=True))
        x = q.mul(kv).transpose(3, 4).reshape(T, B, C, H, W)
        return _steps(lambda s: self.proj_bn(self.proj_conv(s)), x) + identity


class MS_MLP_Conv(nn.Module):  # noqa: N801
    """fc1_lif → 1×1 conv → BN → fc2_lif → 1×1 conv → BN, plus the input (membrane shortcut);
    with hidden = in features the official code also adds the input after fc1."""

    def __init__(self, in_features, hidden_features):
        super().__init__()
        self.res = in_features == hidden_features
        self.fc1_conv = nn.Conv2d(in_features, hidden_features, kernel_size=1, stride=1)
        self.fc1_bn = nn.BatchNorm2d(hidden_features)
        self.fc1_lif = lif()
        self.fc2_conv = nn.Conv2d(hidden_features, in_features, kernel_size=1, stride=1)
        self.fc2_bn = nn.BatchNorm2d(in_features)
        self.fc2_lif = lif()

    def forward(self, x):
        identity = x
        x = _steps(lambda s: self.fc1_bn(self.fc1_conv(s)), self.fc1_lif(x))
        if self.res:
            x = identity + x
            identity = x
        return _steps(lambda s: self.fc2_bn(self.fc2_conv(s)), self.fc2_lif(x)) + identity


class MS_Block_Conv(nn.Module):  # noqa: N801
    def __init__(self, dim, num_heads, mlp_ratio=4.0):
        super().__init__()
        self.attn = MS_SSA_Conv(dim, num_heads)
        self.mlp = MS_MLP_Conv(dim, int(dim * mlp_ratio))

    def forward(self, x):
        return self.mlp(self.attn(x))


class SpikeDrivenTransformer(nn.Module):
    """The official model (registered as ``sdt``): patch_embed, block.0 … block.{depths−1},
    head_lif and head; logits are the mean over time of the head on the spikes of the mean
    over tokens. x: an image [B, C, H, W] (repeated T times) or frames [B, T, C, H, W]."""

    def __init__(self, embed_dims=512, num_heads=8, depths=2, num_classes=10, in_channels=3, mlp_ratios=4, T=4,
                 pooling_stat="1111"):
        super().__init__()
        self.T = T
        self.patch_embed = MS_SPS(in_channels, embed_dims, pooling_stat)
        self.block = nn.ModuleList([MS_Block_Conv(embed_dims, num_heads, mlp_ratios) for _ in range(depths)])
        self.head_lif = lif()
        self.head = nn.Linear(embed_dims, num_classes)

    def forward_features(self, x):
        x = self.patch_embed(x)
        for blk in self.block:
            x = blk(x)
        return x.flatten(3).mean(3)

    def forward(self, x):
        x = x.unsqueeze(0).repeat(self.T, 1, 1, 1, 1) if x.dim() < 5 else x.transpose(0, 1).contiguous()
        return self.head(self.head_lif(self.forward_features(x))).mean(0)


def from_spec(spec, num_heads=8):
    """An SDT shaped like an evsim SDT spec (float64, eval mode); the spec has no heads (they
    do not change SDSA's result), the official default is 8."""
    dim = spec.shapes["patch_embed.tokens"][1]
    depth = len({name.split(".")[1] for name in spec.layers if name.startswith("block.")})
    pooling_stat = "".join("1" if name in spec.layers else "0" for name in
                           ("patch_embed.maxpool", "patch_embed.maxpool1", "patch_embed.maxpool2", "patch_embed.maxpool3"))
    return SpikeDrivenTransformer(dim, num_heads, depth, spec.shapes["head"][0], spec.input.shape[0],
                                  spec.shapes["block.0.mlp.fc1_conv"][1] // dim, spec.input.T, pooling_stat).double().eval()
