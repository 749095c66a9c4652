"""Stops a run at the first NaN or infinite loss, before a checkpoint can store broken weights."""

from __future__ import annotations

import math
from pathlib import Path

import pytorch_lightning as pl
import torch

from lab.errors import LabError


def _loss_of(outputs):
    if isinstance(outputs, dict):
        outputs = outputs.get("loss")
    if isinstance(outputs, torch.Tensor) and outputs.numel() == 1:
        return float(outputs.detach())
    if isinstance(outputs, (int, float)):
        return float(outputs)
    return None


class NonFiniteLossGuard(pl.Callback):
    """Raise a LabError naming the step of the first non-finite training loss and the last good checkpoint."""

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        loss = _loss_of(outputs)
        if loss is None or math.isfinite(loss):
            return
        last = Path(trainer.default_root_dir) / "checkpoints" / "last.ckpt"
        saved = f"the last good checkpoint is {last}" if last.exists() else "no checkpoint was saved before it"
        raise LabError(f"training loss became {loss} at global step {trainer.global_step} "
                       f"(epoch {trainer.current_epoch + 1}, batch {batch_idx}); {saved}. "
                       "Lower the learning rate (model.optimizer.lr=...) or enable gradient clipping "
                       "(trainer.gradient_clip_val=1.0), then resume with ckpt_path=...")
