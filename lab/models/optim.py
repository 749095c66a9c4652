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


def anneal_lr(optimizer, fraction: float, floor: float = 1e-3) -> None:
    """Set every param group's lr to its initial lr times `fraction` (at least `floor` times it): a linear decay
    when `fraction` = 1 - progress. Works on Lightning's wrapped optimisers and on plain ones."""
    optimizer = getattr(optimizer, "optimizer", optimizer)
    for group in optimizer.param_groups:
        group.setdefault("initial_lr", group["lr"])
        group["lr"] = group["initial_lr"] * max(fraction, floor)
