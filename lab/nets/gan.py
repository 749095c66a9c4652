"""GAN bodies: generators map z to images in [-1, 1] (tanh); discriminators map images to one logit each.

DCGAN (Radford et al. 2015) sized for 28x28 and 32x32: transposed convolutions with batch norm and ReLU in
the generator, strided convolutions with LeakyReLU(0.2) (batch norm after the first) in the discriminator.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

from lab.nets.shapes import check_conv_image, check_latent


def _dcgan_init(module: nn.Module) -> None:
    """Weights N(0, 0.02), batch-norm scales N(1, 0.02), as in the DCGAN paper."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


class DCGANGenerator(nn.Module):
    def __init__(self, image_shape: Sequence[int], latent_dim: int = 64, width: int = 64) -> None:
        super().__init__()
        c, h, _ = check_conv_image(image_shape, "DCGANGenerator")
        self.image_shape, self.latent_dim = (c, h, h), check_latent(latent_dim)
        s = h // 4
        self.body = nn.Sequential(
            nn.Linear(latent_dim, 2 * width * s * s, bias=False), nn.Unflatten(1, (2 * width, s, s)),
            nn.BatchNorm2d(2 * width), nn.ReLU(True),
            nn.ConvTranspose2d(2 * width, width, 4, 2, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(True),
            nn.ConvTranspose2d(width, c, 4, 2, 1), nn.Tanh())
        _dcgan_init(self)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.body(z)


class DCGANDiscriminator(nn.Module):
    def __init__(self, image_shape: Sequence[int], width: int = 64) -> None:
        super().__init__()
        c, h, _ = check_conv_image(image_shape, "DCGANDiscriminator")
        self.image_shape = (c, h, h)
        self.body = nn.Sequential(
            nn.Conv2d(c, width, 4, 2, 1), nn.LeakyReLU(0.2, True),
            nn.Conv2d(width, 2 * width, 4, 2, 1, bias=False), nn.BatchNorm2d(2 * width), nn.LeakyReLU(0.2, True),
            nn.Flatten(), nn.Linear(2 * width * (h // 4) ** 2, 1))
        _dcgan_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x).squeeze(-1)


class MLPGenerator(nn.Module):
    def __init__(self, image_shape: Sequence[int], latent_dim: int = 64, hidden: Sequence[int] = (256, 512)) -> None:
        super().__init__()
        self.image_shape, self.latent_dim = tuple(image_shape), check_latent(latent_dim)
        layers: list[nn.Module] = []
        width = latent_dim
        for size in hidden:
            layers += [nn.Linear(width, size), nn.BatchNorm1d(size), nn.LeakyReLU(0.2, True)]
            width = size
        layers += [nn.Linear(width, math.prod(image_shape)), nn.Tanh(), nn.Unflatten(1, self.image_shape)]
        self.body = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.body(z)


class MLPDiscriminator(nn.Module):
    def __init__(self, image_shape: Sequence[int], hidden: Sequence[int] = (512, 256), dropout: float = 0.3) -> None:
        super().__init__()
        self.image_shape = tuple(image_shape)
        layers: list[nn.Module] = [nn.Flatten()]
        width = math.prod(image_shape)
        for size in hidden:
            layers += [nn.Linear(width, size), nn.LeakyReLU(0.2, True), nn.Dropout(dropout)]
            width = size
        layers.append(nn.Linear(width, 1))
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x).squeeze(-1)
