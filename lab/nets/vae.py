"""VAE bodies: encoders map images to (mean, log-variance) of q(z|x); decoders map z to per-pixel parameters.

With `num_classes` > 0 they are class-conditional: an embedding of the label y is concatenated to the encoder's
flat features (q(z|x, y)) and to the decoder's input z (p(x|z, y)); `forward` then takes y as well.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

from lab.nets.embedding import LabelConcat
from lab.nets.mlp import MLP
from lab.nets.shapes import check_conv_image, check_latent


class MLPEncoder(nn.Module):
    def __init__(self, image_shape: Sequence[int], latent_dim: int, hidden: Sequence[int] = (512, 256),
                 activation_name: str = "relu", num_classes: int = 0) -> None:
        super().__init__()
        self.image_shape, self.latent_dim = tuple(image_shape), check_latent(latent_dim)
        self.label = LabelConcat(num_classes)
        self.body = MLP(math.prod(image_shape) + self.label.dim, 2 * latent_dim, hidden, activation_name)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        mean, logvar = self.body(self.label(x.flatten(1), y)).chunk(2, dim=-1)
        return mean, logvar


class MLPDecoder(nn.Module):
    def __init__(self, image_shape: Sequence[int], latent_dim: int, hidden: Sequence[int] = (256, 512),
                 activation_name: str = "relu", num_classes: int = 0) -> None:
        super().__init__()
        self.image_shape, self.latent_dim = tuple(image_shape), check_latent(latent_dim)
        self.label = LabelConcat(num_classes)
        self.body = MLP(latent_dim + self.label.dim, math.prod(image_shape), hidden, activation_name)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.body(self.label(z, y)).view(len(z), *self.image_shape)


class ConvEncoder(nn.Module):
    """Two stride-2 convolutions (H -> H/4), then a linear layer to the latent parameters."""

    def __init__(self, image_shape: Sequence[int], latent_dim: int, channels: Sequence[int] = (32, 64),
                 hidden: int = 256, num_classes: int = 0) -> None:
        super().__init__()
        c, h, _ = check_conv_image(image_shape, "ConvEncoder")
        self.image_shape, self.latent_dim = (c, h, h), check_latent(latent_dim)
        c1, c2 = channels
        self.features = nn.Sequential(
            nn.Conv2d(c, c1, 4, 2, 1), nn.ReLU(), nn.Conv2d(c1, c2, 4, 2, 1), nn.ReLU(), nn.Flatten())
        self.label = LabelConcat(num_classes)
        self.head = nn.Sequential(nn.Linear(c2 * (h // 4) ** 2 + self.label.dim, hidden), nn.ReLU(),
                                  nn.Linear(hidden, 2 * latent_dim))

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        mean, logvar = self.head(self.label(self.features(x), y)).chunk(2, dim=-1)
        return mean, logvar


class ConvDecoder(nn.Module):
    """The mirror of ConvEncoder: linear to (C2, H/4, W/4), two stride-2 transposed convolutions to (C, H, W)."""

    def __init__(self, image_shape: Sequence[int], latent_dim: int, channels: Sequence[int] = (64, 32),
                 hidden: int = 256, num_classes: int = 0) -> None:
        super().__init__()
        c, h, _ = check_conv_image(image_shape, "ConvDecoder")
        self.image_shape, self.latent_dim = (c, h, h), check_latent(latent_dim)
        c2, c1 = channels
        self.label = LabelConcat(num_classes)
        self.body = nn.Sequential(
            nn.Linear(latent_dim + self.label.dim, hidden), nn.ReLU(), nn.Linear(hidden, c2 * (h // 4) ** 2),
            nn.ReLU(), nn.Unflatten(1, (c2, h // 4, h // 4)),
            nn.ConvTranspose2d(c2, c1, 4, 2, 1), nn.ReLU(), nn.ConvTranspose2d(c1, c, 4, 2, 1))

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.body(self.label(z, y))
