"""Forecaster: a window of past values -> the next `horizon` values, trained with MSE on normalised values.

Errors are reported in the series' own units beside those of the naive last-value forecast (repeat the last
observed value): `val/mse`, `val/naive_mse`, `val/mse_ratio` (< 1 beats the naive forecast), and the same for MAE
and for test. The normalisation statistics come from the datamodule's training part and are kept as buffers, so a
loaded checkpoint forecasts raw values with `predict(window)`. A plot of forecast against truth is saved per epoch.
"""

from __future__ import annotations

from typing import Callable

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics import MeanAbsoluteError, MeanSquaredError

from lab.models.optim import configure_optimizers
from lab.models.supervised_steps import SupervisedSteps
from lab.models.train_log import TrainLog
from lab.callbacks.viz import image_path, log_image, new_figure, save_figure

METRICS = {"mse": MeanSquaredError, "mae": MeanAbsoluteError}


class Forecaster(SupervisedSteps, pl.LightningModule):
    def __init__(self, net: nn.Module, optimizer: Callable, scheduler: Callable | None = None,
                 plot_points: int = 300, relative: bool = False) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["net", "optimizer", "scheduler"], logger=False)
        self.net = net
        self.optimizer, self.scheduler = optimizer, scheduler
        self.train_log = TrainLog()
        self.register_buffer("mean", torch.zeros(()))
        self.register_buffer("std", torch.ones(()))
        self.metrics = nn.ModuleDict({f"{stage}_{kind}{name}": metric()
                                      for stage in ("val", "test") for kind in ("", "naive_")
                                      for name, metric in METRICS.items()})
        self._plot: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []

    def setup(self, stage: str) -> None:
        datamodule = self.trainer.datamodule if self.trainer is not None else None
        if datamodule is not None and hasattr(datamodule, "mean"):
            self.mean.fill_(datamodule.mean)
            self.std.fill_(datamodule.std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised windows (batch, window, 1) -> normalised forecasts (batch, horizon).

        With `relative`, the net sees the window minus its last value and predicts the change from it: a series
        that leaves its training range (prices) stays in range, and an untrained net starts at the naive forecast.
        """
        if not self.hparams.relative:
            return self.net(x)
        last = x[:, -1]
        return self.net(x - last[:, None]) + last

    @torch.no_grad()
    def predict(self, window: torch.Tensor) -> torch.Tensor:
        """Raw past values (batch, window) -> raw forecasts (batch, horizon)."""
        scaled = (window.to(self.device) - self.mean) / self.std
        return self(scaled[..., None]) * self.std + self.mean

    def _loss(self, batch) -> tuple[torch.Tensor]:
        x, y = batch
        return (F.mse_loss(self(x), y),)

    def _eval_step(self, batch, stage: str) -> None:
        x, y = batch
        prediction = self(x)
        self.log(f"{stage}/loss", F.mse_loss(prediction, y), on_epoch=True)
        raw = lambda t: t * self.std + self.mean  # noqa: E731
        truth, forecast = raw(y), raw(prediction)
        naive = raw(x[:, -1]).expand_as(truth)
        for name in METRICS:
            self.metrics[f"{stage}_{name}"].update(forecast, truth)
            self.metrics[f"{stage}_naive_{name}"].update(naive, truth)
        self._plot.append((truth[:, 0].cpu(), forecast[:, 0].cpu(), naive[:, 0].cpu()))

    def _eval_epoch_end(self, stage: str) -> None:
        for name in METRICS:
            model, naive = (self.metrics[f"{stage}_{kind}{name}"] for kind in ("", "naive_"))
            value, baseline = model.compute(), naive.compute()
            self.log(f"{stage}/{name}", value, prog_bar=name == "mse")
            self.log(f"{stage}/naive_{name}", baseline)
            self.log(f"{stage}/{name}_ratio", value / baseline, prog_bar=name == "mse")
            model.reset()
            naive.reset()
        if not self.trainer.sanity_checking and self._plot:
            self._save_plot(stage)
        self._plot = []

    def _save_plot(self, stage: str) -> None:
        truth, forecast, naive = (torch.cat(part)[:self.hparams.plot_points].float().numpy() for part in zip(*self._plot))
        figure, axis = new_figure(figsize=(10, 3.5))
        axis.plot(truth, label="truth", color="black", linewidth=1.2)
        axis.plot(forecast, label="forecast (1 step ahead)", color="tab:red", linewidth=1)
        axis.plot(naive, label="naive: last value", color="tab:gray", linewidth=0.8, linestyle="--")
        axis.set(xlabel=f"{stage} time step", ylabel="value",
                 title=f"{stage} forecast vs truth, epoch {self.current_epoch + 1}")
        axis.legend(loc="upper right", fontsize=8)
        key = f"{stage}/forecast"
        path = save_figure(figure, image_path(self.trainer, key))
        log_image(self.trainer, key, path)

    def configure_optimizers(self):
        return configure_optimizers(self, self.optimizer, self.scheduler)
