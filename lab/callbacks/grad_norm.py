"""Logs `train/grad_norm`: the total 2-norm of all gradients before clipping (trainer.gradient_clip_val)."""

from __future__ import annotations

import pytorch_lightning as pl
import torch


class GradNorm(pl.Callback):
    """Lightning calls on_before_optimizer_step after backward (and AMP unscaling) and before it clips."""

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        grads = [p.grad for p in pl_module.parameters() if p.grad is not None]
        if grads:
            pl_module.log("train/grad_norm", torch.nn.utils.get_total_norm(grads), on_step=True, on_epoch=False)
