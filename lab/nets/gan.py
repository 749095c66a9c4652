"""GAN bodies: generators map z to images in [-1, 1] (tanh); discriminators map images to one logit each.

DCGAN (Radford et al. 2015) sized for 28x28 and 32x32: transposed convolutions with batch norm and ReLU in
the generator, strided convolutions with LeakyReLU(0.2) (batch norm after the first unless `batch_norm=false`,
as a critic trained with a gradient penalty or spectral norm needs) in the discriminator.

With `num_classes` > 0 they are class-conditional: the generator takes an embedding of the label concatenated
to z; the discriminator adds a projection term <embed(y), phi(x)> to its output (Miyato & Koyama 2018), where
phi(x) are the features its last linear layer reads.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

from lab.nets.embedding import LabelConcat
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


class Projection(nn.Module):
    """Critic output head(phi) + <embed(y), phi> (Miyato & Koyama 2018); without classes just head(phi)."""

    def __init__(self, features: int, num_classes: int = 0) -> None:
        super().__init__()
        self.head = nn.Linear(features, 1)
        self.embed = nn.Embedding(num_classes, features) if num_classes else None
        if self.embed is not None:
            nn.init.normal_(self.embed.weight, 0.0, 0.02)

    def forward(self, phi: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        out = self.head(phi).squeeze(-1)
        if self.embed is not None:
            if y is None:
                raise ValueError("a class-conditional discriminator needs the labels y")
            out = out + (self.embed(y) * phi).sum(-1)
        return out


class DCGANGenerator(nn.Module):
    def __init__(self, image_shape: Sequence[int], latent_dim: int = 64, width: int = 64,
                 num_classes: int = 0) -> None:
        super().__init__()
        c, h, _ = check_conv_image(image_shape, "DCGANGenerator")
        self.image_shape, self.latent_dim = (c, h, h), check_latent(latent_dim)
        self.label = LabelConcat(num_classes)
        s = h // 4
        self.body = nn.Sequential(
            nn.Linear(latent_dim + self.label.dim, 2 * width * s * s, bias=False), nn.Unflatten(1, (2 * width, s, s)),
            nn.BatchNorm2d(2 * width), nn.ReLU(True),
            nn.ConvTranspose2d(2 * width, width, 4, 2, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(True),
            nn.ConvTranspose2d(width, c, 4, 2, 1), nn.Tanh())
        _dcgan_init(self)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.body(self.label(z, y))


class DCGANDiscriminator(nn.Module):
    def __init__(self, image_shape: Sequence[int], width: int = 64, batch_norm: bool = True,
                 num_classes: int = 0) -> None:
        super().__init__()
        c, h, _ = check_conv_image(image_shape, "DCGANDiscriminator")
        self.image_shape = (c, h, h)
        norm = [nn.BatchNorm2d(2 * width)] if batch_norm else []
        self.body = nn.Sequential(
            nn.Conv2d(c, width, 4, 2, 1), nn.LeakyReLU(0.2, True),
            nn.Conv2d(width, 2 * width, 4, 2, 1, bias=not batch_norm), *norm, nn.LeakyReLU(0.2, True),
            nn.Flatten())
        self.out = Projection(2 * width * (h // 4) ** 2, num_classes)
        _dcgan_init(self)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.out(self.body(x), y)


class MLPGenerator(nn.Module):
    def __init__(self, image_shape: Sequence[int], latent_dim: int = 64, hidden: Sequence[int] = (256, 512),
                 num_classes: int = 0) -> None:
        super().__init__()
        self.image_shape, self.latent_dim = tuple(image_shape), check_latent(latent_dim)
        self.label = LabelConcat(num_classes)
        layers: list[nn.Module] = []
        width = latent_dim + self.label.dim
        for size in hidden:
            layers += [nn.Linear(width, size), nn.BatchNorm1d(size), nn.LeakyReLU(0.2, True)]
            width = size
        layers += [nn.Linear(width, math.prod(image_shape)), nn.Tanh(), nn.Unflatten(1, self.image_shape)]
        self.body = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.body(self.label(z, y))


class MLPDiscriminator(nn.Module):
    def __init__(self, image_shape: Sequence[int], hidden: Sequence[int] = (512, 256), dropout: float = 0.3,
                 num_classes: int = 0) -> None:
        super().__init__()
        self.image_shape = tuple(image_shape)
        layers: list[nn.Module] = [nn.Flatten()]
        width = math.prod(image_shape)
        for size in hidden:
            layers += [nn.Linear(width, size), nn.LeakyReLU(0.2, True), nn.Dropout(dropout)]
            width = size
        self.body = nn.Sequential(*layers)
        self.out = Projection(width, num_classes)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.out(self.body(x), y)
