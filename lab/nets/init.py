"""Weight initialisations whose result does not depend on how many threads torch runs.

`nn.init.orthogonal_` orthogonalises a Gaussian matrix with a QR decomposition, and LAPACK's QR gives last-bit
differences with the number of threads; in RL those differences grow into different runs from the same seed (PPO
on CartPole solved at 40,960 env steps from one thread and 65,536 from two). The QR here runs on one thread, so a
seed gives the same weights in a notebook, under `lab-train` and inside a test suite.
"""

from __future__ import annotations

import contextlib
import math

import torch
from torch import nn


@contextlib.contextmanager
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def orthogonal_init(net: nn.Module, last: nn.Module | None = None, last_gain: float = 1.0) -> None:
    """CleanRL's init for every Linear and Conv2d of `net`: orthogonal weights with gain sqrt(2) (`last_gain` for
    `last`), zero biases."""
    with one_thread():
        for layer in net.modules():
            if isinstance(layer, (nn.Conv2d, nn.Linear)):
                nn.init.orthogonal_(layer.weight, last_gain if layer is last else math.sqrt(2))
                nn.init.zeros_(layer.bias)
