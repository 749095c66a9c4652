"""Classifier: any net that maps inputs to class logits, trained with softmax cross-entropy."""

from __future__ import annotations

from typing import Callable

import numpy as np
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics.classification import MulticlassAccuracy, MulticlassConfusionMatrix

from lab.models.optim import configure_optimizers
from lab.models.train_log import TrainLog
from lab.callbacks.viz import image_path, log_image, new_figure, save_figure, save_labelled_grid


class Classifier(pl.LightningModule):
    def __init__(self, net: nn.Module, num_classes: int, optimizer: Callable, scheduler: Callable | None = None) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["net", "optimizer", "scheduler"], logger=False)
        self.net = net
        self.optimizer, self.scheduler = optimizer, scheduler
        # validate_args=False: the logits are the net's own and cross_entropy already rejects a bad label
        self.accuracy = nn.ModuleDict({f"{s}_acc": MulticlassAccuracy(num_classes, average="micro", validate_args=False)
                                       for s in ("train", "val", "test")})
        self.train_log = TrainLog()
        self.confusion = MulticlassConfusionMatrix(num_classes)
        self._mistakes: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def _step(self, batch, stage: str) -> tuple[torch.Tensor, torch.Tensor]:
        """Loss and logits; the stage's accuracy is updated here and logged once, at the end of the epoch."""
        x, y = batch
        logits = self(x)
        loss = F.cross_entropy(logits, y)
        self.accuracy[f"{stage}_acc"].update(logits, y)
        return loss, logits

    def _log_accuracy(self, stage: str) -> None:
        self.log(f"{stage}/acc", self.accuracy[f"{stage}_acc"], prog_bar=True)

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        loss, _ = self._step(batch, "train")
        self.train_log.step(self, "train/loss", loss, batch_size=len(batch[1]), prog_bar=True)
        return loss

    def on_train_epoch_end(self) -> None:
        self.train_log.epoch_end(self)
        self._log_accuracy("train")

    def validation_step(self, batch, batch_idx: int) -> None:
        loss, _ = self._step(batch, "val")
        self.log("val/loss", loss, prog_bar=True, sync_dist=True)

    def on_validation_epoch_end(self) -> None:
        self._log_accuracy("val")

    def test_step(self, batch, batch_idx: int) -> None:
        x, y = batch
        loss, logits = self._step(batch, "test")
        self.log("test/loss", loss, prog_bar=True, sync_dist=True)
        predicted = logits.argmax(-1)
        self.confusion.update(predicted, y)
        wrong = predicted != y
        if x.ndim == 4 and wrong.any():
            self._mistakes.append((x[wrong].cpu(), y[wrong].cpu(), predicted[wrong].cpu()))

    def on_test_epoch_start(self) -> None:
        self.confusion.reset()
        self._mistakes = []

    def on_test_epoch_end(self) -> None:
        self._log_accuracy("test")
        matrix = self.confusion.compute().cpu().numpy()
        figure, axis = new_figure(figsize=(5, 5))
        axis.imshow(matrix, cmap="Blues")
        for (i, j), count in np.ndenumerate(matrix):
            axis.text(j, i, int(count), ha="center", va="center", fontsize=7)
        axis.set(xlabel="predicted", ylabel="true", title="test confusion matrix")
        path = save_figure(figure, image_path(self.trainer, "test/confusion_matrix"))
        log_image(self.trainer, "test/confusion_matrix", path)
        if self._mistakes:
            images = torch.cat([m[0] for m in self._mistakes])[:64]
            low, high = images.amin(), images.amax()
            labels = torch.cat([m[1] for m in self._mistakes])[:64]
            guesses = torch.cat([m[2] for m in self._mistakes])[:64]
            titles = [f"{int(t)}→{int(p)}" for t, p in zip(labels, guesses)]
            path = save_labelled_grid((images - low) / (high - low + 1e-8), titles,
                                      image_path(self.trainer, "test/misclassified"))
            log_image(self.trainer, "test/misclassified", path, caption="true→predicted")

    def configure_optimizers(self):
        return configure_optimizers(self, self.optimizer, self.scheduler)
