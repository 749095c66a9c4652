"""ResNet with basic residual blocks: configurable stages (depth) and base width; batch norm switchable."""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn


def norm_or_identity(channels: int, batch_norm: bool) -> nn.Module:
    """BatchNorm2d when batch norm is on, else a no-op."""
    return nn.BatchNorm2d(channels) if batch_norm else nn.Identity()


def he_init(net: nn.Module) -> None:
    """He (Kaiming) normal init for convolutions before ReLUs; zero conv biases."""
    for module in net.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            if module.bias is not None:
                nn.init.zeros_(module.bias)


class BasicBlock(nn.Module):
    """y = relu(F(x) + shortcut(x)), F = conv3x3-norm-relu-conv3x3-norm."""

    def __init__(self, c_in: int, c_out: int, stride: int, batch_norm: bool) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(c_in, c_out, 3, stride, 1, bias=not batch_norm), norm_or_identity(c_out, batch_norm),
            nn.ReLU(inplace=True),
            nn.Conv2d(c_out, c_out, 3, 1, 1, bias=not batch_norm), norm_or_identity(c_out, batch_norm))
        self.shortcut = nn.Identity() if stride == 1 and c_in == c_out else nn.Sequential(
            nn.Conv2d(c_in, c_out, 1, stride, bias=not batch_norm), norm_or_identity(c_out, batch_norm))
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.body(x) + self.shortcut(x))


class ResNet(nn.Module):
    """`blocks[i]` basic blocks in stage i; each later stage halves the resolution and doubles the width."""

    def __init__(self, input_shape: Sequence[int] = (1, 28, 28), num_classes: int = 10,
                 blocks: Sequence[int] = (2, 2, 2), width: int = 16, batch_norm: bool = True) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(input_shape[0], width, 3, 1, 1, bias=not batch_norm),
                                   norm_or_identity(width, batch_norm), nn.ReLU(inplace=True)]
        channels = width
        for stage, count in enumerate(blocks):
            out = width * 2 ** stage
            for i in range(count):
                layers.append(BasicBlock(channels, out, 2 if stage > 0 and i == 0 else 1, batch_norm))
                channels = out
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, num_classes))
        he_init(self)
        if not batch_norm:  # without a norm to tame it, start each residual branch at zero (block = identity)
            for block in self.modules():
                if isinstance(block, BasicBlock):
                    nn.init.zeros_(block.body[-2].weight)  # the second conv; body[-1] is the Identity norm

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))
