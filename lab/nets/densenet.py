"""DenseNet: dense blocks (each layer sees all earlier feature maps) joined by compressing transitions."""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from lab.nets.resnet import he_init, norm_or_identity


class DenseLayer(nn.Module):
    def __init__(self, c_in: int, growth_rate: int, batch_norm: bool) -> None:
        super().__init__()
        self.body = nn.Sequential(norm_or_identity(c_in, batch_norm), nn.ReLU(inplace=False),
                                  nn.Conv2d(c_in, growth_rate, 3, 1, 1, bias=not batch_norm))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, self.body(x)], dim=1)


def transition(c_in: int, c_out: int, batch_norm: bool) -> nn.Module:
    """1x1 conv to `c_out` channels, then 2x2 average pooling."""
    return nn.Sequential(norm_or_identity(c_in, batch_norm), nn.ReLU(), nn.Conv2d(c_in, c_out, 1, bias=not batch_norm),
                         nn.AvgPool2d(2))


class DenseNet(nn.Module):
    def __init__(self, input_shape: Sequence[int] = (1, 28, 28), num_classes: int = 10,
                 block_layers: Sequence[int] = (4, 4, 4), growth_rate: int = 12, compression: float = 0.5,
                 batch_norm: bool = True) -> None:
        super().__init__()
        channels = 2 * growth_rate
        layers: list[nn.Module] = [nn.Conv2d(input_shape[0], channels, 3, 1, 1, bias=False)]
        for b, count in enumerate(block_layers):
            for _ in range(count):
                layers.append(DenseLayer(channels, growth_rate, batch_norm))
                channels += growth_rate
            if b < len(block_layers) - 1:
                out = int(channels * compression)
                layers.append(transition(channels, out, batch_norm))
                channels = out
        layers += [norm_or_identity(channels, batch_norm), nn.ReLU()]
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, num_classes))
        he_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))
