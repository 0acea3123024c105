"""The official Spikformer architecture in PyTorch + SpikingJelly, written from the official
code's structure and module names (cifar10/, imagenet/, cifar10dvs/ model.py): evsim must
import its checkpoints and reproduce its outputs spike for spike (tests/test_import.py), and
models/train_digits.py trains the shipped digits model with it.

Needs the ``torch`` extra (``pip install 'evsim[torch]'``: torch and spikingjelly); nothing
else in evsim imports this module.

Three layouts: ``cifar`` (tokens [T, B, N, C], nn.Linear, (Q Kᵀ)·s·V), ``imagenet``
(maps [T, B, C, H, W], Conv1d q/k/v without bias, 1×1 Conv2d MLP, Q·(Kᵀ V)·s) and ``dvs``
(Conv1d everywhere, (Q Kᵀ V)·0.25, unused pos_embed and LayerNorm).
"""
import torch
import torch.nn as nn

try:
    from spikingjelly.clock_driven.neuron import MultiStepLIFNode
except ImportError:   # SpikingJelly 2.0: clock_driven is gone; its multi-step LIF is bit-identical
    from spikingjelly.activation_based.neuron import LIFNode

    def MultiStepLIFNode(**kwargs):  # noqa: N802
        kwargs.pop("backend", None)   # 2.0 chooses its backend itself
        return LIFNode(step_mode="m", **kwargs)


def lif(threshold=1.0):
    return MultiStepLIFNode(tau=2.0, v_threshold=threshold, detach_reset=True, backend="torch")


class SPS(nn.Module):
    def __init__(self, variant, in_channels, dim):
        super().__init__()
        self.variant = variant
        widths = [in_channels, dim // 8, dim // 4, dim // 2, dim]
        for i, suffix in enumerate(["", "1", "2", "3"]):
            setattr(self, f"proj_conv{suffix}", nn.Conv2d(widths[i], widths[i + 1], 3, 1, 1, bias=False))
            setattr(self, f"proj_bn{suffix}", nn.BatchNorm2d(widths[i + 1]))
            setattr(self, f"proj_lif{suffix}", lif())
            pooled = variant != "cifar" or suffix in ("2", "3")
            if pooled:
                setattr(self, f"maxpool{suffix}", nn.MaxPool2d(3, 2, 1))
        self.rpe_conv = nn.Conv2d(dim, dim, 3, 1, 1, bias=False)
        self.rpe_bn = nn.BatchNorm2d(dim)
        self.rpe_lif = lif()

    def stage(self, x, suffix):
        T, B = x.shape[:2]
        y = getattr(self, f"proj_bn{suffix}")(getattr(self, f"proj_conv{suffix}")(x.flatten(0, 1)))
        y = getattr(self, f"proj_lif{suffix}")(y.reshape(T, B, *y.shape[1:]))
        pool = getattr(self, f"maxpool{suffix}", None)
        if pool is not None:
            y = pool(y.flatten(0, 1))
            y = y.reshape(T, B, *y.shape[1:])
        return y

    def forward(self, x):  # [T, B, C, H, W] → maps [T, B, D, h, w] = spikes + rpe spikes
        for suffix in ["", "1", "2", "3"]:
            x = self.stage(x, suffix)
        T, B = x.shape[:2]
        rpe = self.rpe_bn(self.rpe_conv(x.flatten(0, 1)))
        return x + self.rpe_lif(rpe.reshape(T, B, *rpe.shape[1:]))


class SSA(nn.Module):
    def __init__(self, variant, dim, heads):
        super().__init__()
        self.variant, self.heads = variant, heads
        self.scale = 0.25 if variant == "dvs" else 0.125
        for name in "qkv":
            if variant == "cifar":
                setattr(self, f"{name}_linear", nn.Linear(dim, dim))
            else:
                setattr(self, f"{name}_conv", nn.Conv1d(dim, dim, 1, bias=False))
            setattr(self, f"{name}_bn", nn.BatchNorm1d(dim))
            setattr(self, f"{name}_lif", lif())
        self.attn_lif = lif(0.5)
        self.proj = nn.Linear(dim, dim) if variant == "cifar" else nn.Conv1d(dim, dim, 1)
        setattr(self, "proj_linear" if variant == "cifar" else "proj_conv", self.proj)
        del self._modules["proj"]
        self.proj_bn = nn.BatchNorm1d(dim)
        self.proj_lif = lif()

    def forward(self, x):
        if self.variant == "cifar":  # x [T, B, N, C]
            T, B, N, C = x.shape
            flat = x.flatten(0, 1)
            heads = []
            for name in "qkv":
                y = getattr(self, f"{name}_linear")(flat)
                y = getattr(self, f"{name}_bn")(y.transpose(-1, -2)).transpose(-1, -2).reshape(T, B, N, C)
                y = getattr(self, f"{name}_lif")(y)
                heads.append(y.reshape(T, B, N, self.heads, C // self.heads).permute(0, 1, 3, 2, 4))
            q, k, v = heads
            out = ((q @ k.transpose(-2, -1)) * self.scale) @ v
            out = self.attn_lif(out.transpose(2, 3).reshape(T, B, N, C)).flatten(0, 1)
            out = self.proj_bn(self.proj_linear(out).transpose(-1, -2)).transpose(-1, -2)
            return self.proj_lif(out.reshape(T, B, N, C))
        T, B, C, N = x.shape  # conv layouts: x [T, B, C, N]
        flat = x.flatten(0, 1)
        heads = []
        for name in "qkv":
            y = getattr(self, f"{name}_bn")(getattr(self, f"{name}_conv")(flat)).reshape(T, B, C, N)
            y = getattr(self, f"{name}_lif")(y)
            heads.append(y.transpose(-1, -2).reshape(T, B, N, self.heads, C // self.heads).permute(0, 1, 3, 2, 4))
        q, k, v = heads
        if self.variant == "imagenet":
            out = (q @ (k.transpose(-2, -1) @ v)) * self.scale
        else:
            out = ((q @ k.transpose(-2, -1)) @ v) * self.scale
        out = self.attn_lif(out.transpose(3, 4).reshape(T, B, C, N)).flatten(0, 1)
        return self.proj_lif(self.proj_bn(self.proj_conv(out)).reshape(T, B, C, N))


class MLP(nn.Module):
    def __init__(self, variant, dim, hidden):
        super().__init__()
        self.variant, self.hidden = variant, hidden
        make = {"cifar": lambda i, o: nn.Linear(i, o), "imagenet": lambda i, o: nn.Conv2d(i, o, 1),
                "dvs": lambda i, o: nn.Conv1d(i, o, 1)}[variant]
        suffix = "linear" if variant == "cifar" else "conv"
        setattr(self, f"fc1_{suffix}", make(dim, hidden))
        self.fc1_bn = (nn.BatchNorm2d if variant == "imagenet" else nn.BatchNorm1d)(hidden)
        self.fc1_lif = lif()
        setattr(self, f"fc2_{suffix}", make(hidden, dim))
        self.fc2_bn = (nn.BatchNorm2d if variant == "imagenet" else nn.BatchNorm1d)(dim)
        self.fc2_lif = lif()
        self.suffix = suffix

    def forward(self, x):
        T, B = x.shape[:2]
        for i in ("1", "2"):
            fc, bn, neuron = getattr(self, f"fc{i}_{self.suffix}"), getattr(self, f"fc{i}_bn"), getattr(self, f"fc{i}_lif")
            if self.variant == "cifar":
                y = bn(fc(x.flatten(0, 1)).transpose(-1, -2)).transpose(-1, -2)
            else:
                y = bn(fc(x.flatten(0, 1)))
            x = neuron(y.reshape(T, B, *y.shape[1:]))
        return x


class Block(nn.Module):
    def __init__(self, variant, dim, heads, mlp_ratio):
        super().__init__()
        self.variant = variant
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)  # built, never used (as in the official code)
        self.attn = SSA(variant, dim, heads)
        self.mlp = MLP(variant, dim, dim * mlp_ratio)

    def forward(self, x):
        if self.variant == "imagenet":  # x [T, B, C, H, W]
            T, B, C, H, W = x.shape
            x = x + self.attn(x.flatten(3)).reshape(T, B, C, H, W)
            return x + self.mlp(x)
        x = x + self.attn(x)
        return x + self.mlp(x)


class Spikformer(nn.Module):
    def __init__(self, variant, dim, heads, depth, classes, in_channels=3, img_size=32, T=4, mlp_ratio=4):
        super().__init__()
        self.variant, self.T = variant, T
        self.patch_embed = SPS(variant, in_channels, dim)
        self.block = nn.ModuleList([Block(variant, dim, heads, mlp_ratio) for _ in range(depth)])
        if variant == "dvs":
            self.pos_embed = nn.Parameter(torch.zeros(1, (img_size // 16) ** 2, dim))
            self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, classes)

    def forward(self, x):
        """x: an image [B, C, H, W] (repeated T times) or frames [T, B, C, H, W] (DVS)."""
        if self.variant != "dvs":
            x = x.unsqueeze(0).repeat(self.T, 1, 1, 1, 1)
        x = self.patch_embed(x)
        T, B, C = x.shape[:3]
        if self.variant == "cifar":
            x = x.flatten(-2).transpose(-1, -2)   # [T, B, N, C]
        elif self.variant == "dvs":
            x = x.flatten(3)                      # [T, B, C, N]
        for blk in self.block:
            x = blk(x)
        features = x.mean(2) if self.variant == "cifar" else x.flatten(3).mean(3)
        return self.head(features.mean(0))
