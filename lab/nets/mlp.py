"""Multi-layer perceptron with a selectable activation and dropout; no hidden layers = a linear model."""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

from lab.nets.activations import activation


class MLP(nn.Module):
    def __init__(self, in_features: int | Sequence[int], out_features: int, hidden: Sequence[int] = (128,),
                 activation_name: str = "relu", dropout: float = 0.0, batch_norm: bool = False) -> None:
        super().__init__()
        in_features = in_features if isinstance(in_features, int) else math.prod(in_features)
        layers: list[nn.Module] = [nn.Flatten()]
        width = in_features
        for size in hidden:
            layers.append(nn.Linear(width, size))
            if batch_norm:
                layers.append(nn.BatchNorm1d(size))
            layers.append(activation(activation_name))
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = size
        layers.append(nn.Linear(width, out_features))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)
