"""The classic activations by name: sigmoid, tanh, hard-sigmoid, relu, leaky-relu, prelu, swish."""

from __future__ import annotations

from torch import nn

from lab.errors import LabError

ACTIVATIONS = {
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "hard-sigmoid": nn.Hardsigmoid,
    "relu": nn.ReLU,
    "leaky-relu": lambda: nn.LeakyReLU(0.01),
    "prelu": nn.PReLU,
    "swish": nn.SiLU,
    "gelu": nn.GELU,
}


def activation(name: str) -> nn.Module:
    """A fresh activation module for `name`; an unknown name lists the known ones."""
    if name not in ACTIVATIONS:
        raise LabError(f"unknown activation {name!r}; choose one of {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name]()
