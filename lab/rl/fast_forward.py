"""A no-autograd forward for small MLP policies that skips nn.Module call overhead (the rollout's hot loop).

For a net made of Flatten / Linear / Tanh / ReLU layers (lab.nets.mlp.MLP) the functional calls are ~2x faster
than module calls at rollout batch sizes; any other net falls back to its own forward. Parameters are read
live, so the fast path always uses the current weights.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

_FUNCTIONAL = {nn.Tanh: torch.tanh, nn.ReLU: torch.relu, nn.Sigmoid: torch.sigmoid}


def fast_forward(net: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    """A function computing `net(x)` for 2-D x, without module hooks (use under no_grad only)."""
    layers = list(net.layers) if isinstance(getattr(net, "layers", None), nn.Sequential) else None
    supported = (nn.Flatten, nn.Linear, *_FUNCTIONAL)
    if layers is None or not all(isinstance(layer, supported) for layer in layers):
        return net
    steps: list[Callable] = []
    for layer in layers:
        if isinstance(layer, nn.Linear):
            steps.append(lambda x, layer=layer: F.linear(x, layer.weight, layer.bias))
        elif not isinstance(layer, nn.Flatten):
            steps.append(_FUNCTIONAL[type(layer)])

    def forward(x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(x.shape[0], -1)
        for step in steps:
            x = step(x)
        return x

    return forward
