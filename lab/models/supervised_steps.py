"""Lightning's step hooks for a supervised module, written once: a training step on `_loss(batch)[0]` logged through
`self.train_log` (a `TrainLog`), and validation and test routed to `_eval_step(batch, stage)` and
`_eval_epoch_end(stage)` with stage "val" or "test".

Modules inherit `SupervisedSteps` before `pl.LightningModule`, write those three methods, and override a hook
only where they do more (the language model samples text after each validation).
"""

from __future__ import annotations

import torch


class SupervisedSteps:
    def _loss(self, batch) -> tuple[torch.Tensor, ...]:
        """(loss, ...) of a batch whose first element has one row per example."""
        raise NotImplementedError

    def _eval_step(self, batch, stage: str) -> None:
        raise NotImplementedError

    def _eval_epoch_end(self, stage: str) -> None:
        raise NotImplementedError

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        loss = self._loss(batch)[0]
        self.train_log.step(self, "train/loss", loss, batch_size=len(batch[0]), prog_bar=True)
        return loss

    def on_train_epoch_end(self) -> None:
        self.train_log.epoch_end(self)

    def validation_step(self, batch, batch_idx: int) -> None:
        self._eval_step(batch, "val")

    def on_validation_epoch_end(self) -> None:
        self._eval_epoch_end("val")

    def test_step(self, batch, batch_idx: int) -> None:
        self._eval_step(batch, "test")

    def on_test_epoch_end(self) -> None:
        self._eval_epoch_end("test")
