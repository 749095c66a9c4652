"""A small U-Net for denoising and velocity prediction: net(x, t, labels) -> a tensor shaped like x.

Sinusoidal embedding of the (float) time, residual blocks with group norm that add the time embedding, one
resolution level per entry of `channels` (halved between levels), self-attention at the lowest resolution.
With `num_classes`, a class embedding is added to the time embedding; its extra index `num_classes` is the
"no label" class that classifier-free guidance trains and samples with (labels=None means no label).
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from lab.errors import LabError


def sinusoidal_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """(n,) times -> (n, dim): cos and sin of t at frequencies from 1 to 1/max_period (Vaswani et al. 2017)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    angles = t.float()[:, None] * freqs[None]
    return torch.cat([angles.cos(), angles.sin()], -1)


def _norm(channels: int, groups: int) -> nn.GroupNorm:
    return nn.GroupNorm(math.gcd(groups, channels), channels)


class ResBlock(nn.Module):
    """GroupNorm-SiLU-conv twice, the embedding added in between, a 1x1 skip when channels change."""

    def __init__(self, in_ch: int, out_ch: int, emb_dim: int, groups: int, dropout: float) -> None:
        super().__init__()
        self.norm1, self.conv1 = _norm(in_ch, groups), nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.emb = nn.Linear(emb_dim, out_ch)
        self.norm2, self.conv2 = _norm(out_ch, groups), nn.Conv2d(out_ch, out_ch, 3, padding=1)
        self.dropout = nn.Dropout(dropout)
        self.skip = nn.Conv2d(in_ch, out_ch, 1) if in_ch != out_ch else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.emb(F.silu(emb))[:, :, None, None]
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return h + self.skip(x)


class SelfAttention(nn.Module):
    """Multi-head self-attention over the H*W positions, residual."""

    def __init__(self, channels: int, heads: int, groups: int) -> None:
        super().__init__()
        self.norm = _norm(channels, groups)
        self.attn = nn.MultiheadAttention(channels, heads, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        seq = self.norm(x).flatten(2).transpose(1, 2)
        out, _ = self.attn(seq, seq, seq, need_weights=False)
        return x + out.transpose(1, 2).reshape(n, c, h, w)


class UNet(nn.Module):
    def __init__(self, image_shape: Sequence[int] = (1, 28, 28), channels: Sequence[int] = (32, 64, 64),
                 blocks_per_level: int = 1, num_classes: int | None = None, groups: int = 8, heads: int = 4,
                 dropout: float = 0.0) -> None:
        super().__init__()
        self.image_shape = tuple(int(s) for s in image_shape)
        in_ch, height, width = self.image_shape
        factor = 2 ** (len(channels) - 1)
        if height % factor or width % factor:
            raise LabError(f"the U-Net halves {list(self.image_shape)} images {len(channels) - 1} times, which needs "
                           f"height and width divisible by {factor}; use fewer model.net.channels")
        self.num_classes = num_classes
        emb_dim = 4 * channels[0]
        self.time_mlp = nn.Sequential(nn.Linear(channels[0], emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        self.class_emb = nn.Embedding(num_classes + 1, emb_dim) if num_classes else None
        self.stem = nn.Conv2d(in_ch, channels[0], 3, padding=1)

        self.down, self.downsample = nn.ModuleList(), nn.ModuleList()
        skips, ch = [channels[0]], channels[0]
        for level, out_ch in enumerate(channels):
            blocks = nn.ModuleList()
            for _ in range(blocks_per_level):
                blocks.append(ResBlock(ch, out_ch, emb_dim, groups, dropout))
                ch = out_ch
                skips.append(ch)
            self.down.append(blocks)
            last = level == len(channels) - 1
            self.downsample.append(nn.Identity() if last else nn.Conv2d(ch, ch, 3, stride=2, padding=1))
            if not last:
                skips.append(ch)

        self.mid1 = ResBlock(ch, ch, emb_dim, groups, dropout)
        self.mid_attn = SelfAttention(ch, heads, groups)
        self.mid2 = ResBlock(ch, ch, emb_dim, groups, dropout)

        self.up, self.upsample = nn.ModuleList(), nn.ModuleList()
        for level, out_ch in reversed(list(enumerate(channels))):
            blocks = nn.ModuleList()
            for _ in range(blocks_per_level + 1):
                blocks.append(ResBlock(ch + skips.pop(), out_ch, emb_dim, groups, dropout))
                ch = out_ch
            self.up.append(blocks)
            self.upsample.append(nn.Upsample(scale_factor=2, mode="nearest") if level else nn.Identity())
        self.head = nn.Sequential(_norm(ch, groups), nn.SiLU(), nn.Conv2d(ch, in_ch, 3, padding=1))
        nn.init.zeros_(self.head[-1].weight)  # starts by predicting 0: the mean of noise and of the targets' velocity
        nn.init.zeros_(self.head[-1].bias)

    def embed(self, t: torch.Tensor, labels: torch.Tensor | None, n: int) -> torch.Tensor:
        t = torch.as_tensor(t, dtype=torch.float32, device=self.stem.weight.device).expand(n)
        emb = self.time_mlp(sinusoidal_embedding(t, self.time_mlp[0].in_features))
        if self.class_emb is not None:
            if labels is None:
                labels = torch.full((n,), self.num_classes, dtype=torch.long, device=emb.device)
            emb = emb + self.class_emb(labels)
        elif labels is not None:
            raise LabError("this U-Net has no class embedding (model.net.num_classes is null) but was given labels")
        return emb

    def forward(self, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """x (n, C, H, W), t (n,) or a scalar, labels (n,) ints in [0, num_classes] or None -> (n, C, H, W)."""
        emb = self.embed(t, labels, len(x))
        h = self.stem(x)
        skips = [h]
        for blocks, downsample in zip(self.down, self.downsample):
            for block in blocks:
                h = block(h, emb)
                skips.append(h)
            if not isinstance(downsample, nn.Identity):
                h = downsample(h)
                skips.append(h)
        h = self.mid2(self.mid_attn(self.mid1(h, emb)), emb)
        for blocks, upsample in zip(self.up, self.upsample):
            for block in blocks:
                h = block(torch.cat([h, skips.pop()], 1), emb)
            h = upsample(h)
        return self.head(h)
