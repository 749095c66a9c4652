"""Optimiser and learning-rate schedule from config partials, the same for every family."""

from __future__ import annotations

from typing import Callable, Iterable

import torch


def configure_optimizers(params: Iterable[torch.nn.Parameter], optimizer: Callable, scheduler: Callable | None = None,
                         interval: str = "epoch"):
    """Build `optimizer(params)` and, if given, `scheduler(optimizer)` in Lightning's return format."""
    opt = optimizer(params)
    if scheduler is None:
        return opt
    return {"optimizer": opt, "lr_scheduler": {"scheduler": scheduler(opt), "interval": interval}}
