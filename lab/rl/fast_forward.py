"""A forward for small MLPs that skips nn.Module call overhead (the rollout's and the replay update's hot loops).

For a net made of Flatten / Linear / Tanh / ReLU layers (lab.nets.mlp.MLP) the functional calls are ~2x faster
than module calls at rollout batch sizes; any other net falls back to its own forward. Parameters are read
live, so the fast path always uses the current weights, and autograd sees them as it would through the module.
The result is never an nn.Module, so a module that keeps it as an attribute does not register the net twice (a
checkpoint holds each parameter once).
`frozen_forward(net)` computes the same with the parameters detached: the gradient reaches the input, not the
net (an actor's loss through a critic it must not update).
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

_FUNCTIONAL = {nn.Tanh: torch.tanh, nn.ReLU: torch.relu, nn.Sigmoid: torch.sigmoid}


def fast_forward(net: nn.Module, detach: bool = False) -> Callable[[torch.Tensor], torch.Tensor]:
    """A function computing `net(x)` for 2-D x, without module hooks; `detach`: with the parameters detached."""
    layers = list(net.layers) if isinstance(getattr(net, "layers", None), nn.Sequential) else None
    supported = (nn.Flatten, nn.Linear, *_FUNCTIONAL)
    if layers is None or not all(isinstance(layer, supported) for layer in layers):
        if not detach:
            return net.__call__  # a bound method, not the module: an nn.Module attribute holding it registers nothing
        return lambda x: torch.func.functional_call(net, {k: v.detach() for k, v in net.named_parameters()}, (x,))
    steps: list[Callable] = []
    for layer in layers:
        if isinstance(layer, nn.Linear) and detach:
            steps.append(lambda x, layer=layer: F.linear(x, layer.weight.detach(), layer.bias.detach()))
        elif isinstance(layer, nn.Linear):
            steps.append(lambda x, layer=layer: F.linear(x, layer.weight, layer.bias))
        elif not isinstance(layer, nn.Flatten):
            steps.append(_FUNCTIONAL[type(layer)])

    def forward(x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(x.shape[0], -1)
        for step in steps:
            x = step(x)
        return x

    return forward


def frozen_forward(net: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    """`net(x)` with the parameters detached: gradients flow to `x` only."""
    return fast_forward(net, detach=True)
