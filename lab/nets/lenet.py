"""LeNet-5: two conv/pool stages and three fully connected layers; max or average pooling, valid or same padding."""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from lab.errors import LabError
from lab.nets.activations import activation

POOLS = {"max": nn.MaxPool2d, "avg": nn.AvgPool2d}


class LeNet5(nn.Module):
    def __init__(self, input_shape: Sequence[int] = (1, 28, 28), num_classes: int = 10, pooling: str = "max",
                 padding: str = "same", activation_name: str = "relu", batch_norm: bool = False,
                 dropout: float = 0.0) -> None:
        super().__init__()
        if pooling not in POOLS:
            raise LabError(f"unknown pooling {pooling!r}; choose 'max' or 'avg'")
        if padding not in ("valid", "same"):
            raise LabError(f"unknown padding {padding!r}; choose 'valid' or 'same'")
        channels = input_shape[0]
        pad = 2 if padding == "same" else 0

        def stage(c_in: int, c_out: int, p: int) -> list[nn.Module]:
            return [nn.Conv2d(c_in, c_out, 5, padding=p, bias=not batch_norm),
                    *([nn.BatchNorm2d(c_out)] if batch_norm else []), activation(activation_name), POOLS[pooling](2)]

        self.features = nn.Sequential(*stage(channels, 6, pad), *stage(6, 16, 0))
        with torch.no_grad():
            flat = self.features(torch.zeros(1, *input_shape)).numel()
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(flat, 120), activation(activation_name), nn.Dropout(dropout),
            nn.Linear(120, 84), activation(activation_name), nn.Dropout(dropout), nn.Linear(84, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))
