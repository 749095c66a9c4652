"""Lightning's overhead: LeNet-5 on mnist5k, the same steps through the lab's Trainer path and a plain loop.

Three paths, alternated within each repeat: a hand-written PyTorch loop; a bare LightningModule (the same
net, loss and optimiser, no logging, no callbacks: Lightning's own floor); and `lab.train` running the
default experiment with its callbacks, logging and metrics. Two rates each: the median step (time from one
optimiser step's end to the next one's, data loading and every hook included; robust to a noisy neighbour
on a shared machine) and the whole fit (start-up and checkpoints included, divided into the same samples).
"""

from __future__ import annotations

import statistics
import tempfile
import time

import pytorch_lightning as pl
import torch
import torch.nn.functional as F

from lab.bench import table
from lab.data.embedded import MNIST5kDataModule
from lab.nets.lenet import LeNet5
from lab.train import compose_config, run_experiment

DOC = "benchmarks.md"
TITLE = "Lightning overhead (LeNet-5, mnist5k, batch 64)"
EXPERIMENT = "lenet_mnist5k"
BATCH = 64
TRAIN_SIZE = 4000  # MNIST5kDataModule's default training split


class StepTimer(pl.Callback):
    """Records the interval between consecutive training-batch ends (class-level, since Hydra builds it)."""

    intervals: list[float] = []

    def on_train_start(self, trainer, pl_module) -> None:
        StepTimer.intervals, self._last = [], None

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        now = time.perf_counter()
        if self._last is not None and batch_idx > 0:
            StepTimer.intervals.append(now - self._last)
        self._last = now


def _data(seed: int) -> MNIST5kDataModule:
    data = MNIST5kDataModule(batch_size=BATCH, seed=seed)
    data.setup()
    return data


def plain_loop(epochs: int, seed: int = 0) -> tuple[float, float]:
    """The same model, data and optimiser in a hand-written loop: (median-step samples/s, whole-run samples/s)."""
    start = time.perf_counter()
    torch.manual_seed(seed)
    data = _data(seed)
    net = LeNet5()
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    intervals = []
    for _ in range(epochs):
        net.train()
        last = None
        for x, y in data.train_dataloader():
            optimizer.zero_grad(set_to_none=True)
            F.cross_entropy(net(x), y).backward()
            optimizer.step()
            now = time.perf_counter()
            if last is not None:
                intervals.append(now - last)
            last = now
    return BATCH / statistics.median(intervals), TRAIN_SIZE * epochs / (time.perf_counter() - start)


class BareLeNet(pl.LightningModule):
    """The plain loop's step as a LightningModule, and nothing else."""

    def __init__(self) -> None:
        super().__init__()
        self.net = LeNet5()

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        x, y = batch
        return F.cross_entropy(self.net(x), y)

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=1e-3)


def bare_lightning(epochs: int, seed: int = 0) -> tuple[float, float]:
    start = time.perf_counter()
    torch.manual_seed(seed)
    data = _data(seed)
    trainer = pl.Trainer(max_epochs=epochs, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, callbacks=[StepTimer()])
    trainer.fit(BareLeNet(), train_dataloaders=data.train_dataloader())
    return BATCH / statistics.median(StepTimer.intervals), TRAIN_SIZE * epochs / (time.perf_counter() - start)


def lab_path(epochs: int) -> tuple[float, float]:
    """`lab.train` with the default experiment's callbacks (checkpoints every epoch), no validation or test."""
    with tempfile.TemporaryDirectory() as out:
        metrics = run_experiment([f"experiment={EXPERIMENT}", "logger=none", f"trainer.max_epochs={epochs}",
                                  "trainer.limit_val_batches=0", "test=false", "trainer.enable_progress_bar=false",
                                  "callbacks.model_checkpoint.monitor=null",
                                  f"+callbacks.step_timer._target_={StepTimer.__module__}.StepTimer"], out)
    return BATCH / statistics.median(StepTimer.intervals), TRAIN_SIZE * epochs / metrics["time/fit_seconds"]


PATHS = {"plain PyTorch loop": plain_loop, "bare LightningModule": bare_lightning, "lab (`lab.train`)": lab_path}


def run(quick: bool = False) -> str:
    """Alternates the paths and reports medians over the repeats: each ratio is taken within one repeat,
    where the paths ran back to back, so slow drift in the machine's speed cancels out."""
    epochs = 2 if quick else int(compose_config([f"experiment={EXPERIMENT}"]).trainer.max_epochs)
    repeats = 1 if quick else 7
    rates: dict[str, list[tuple[float, float]]] = {name: [] for name in PATHS}
    for _ in range(repeats):
        for name, measure in PATHS.items():
            rates[name].append(measure(epochs))
    plain = rates["plain PyTorch loop"]
    rows = []
    for name, measured in rates.items():
        step_ratios = [m[0] / p[0] for m, p in zip(measured, plain)]
        whole_ratios = [m[1] / p[1] for m, p in zip(measured, plain)]
        rows.append([name, statistics.median(m[0] for m in measured), statistics.median(step_ratios),
                     statistics.median(m[1] for m in measured), statistics.median(whole_ratios)])
    return table(["path", "samples/s, median step", "ratio (median of repeats)",
                  f"samples/s, whole {epochs}-epoch fit", "ratio (median of repeats)"], rows) + \
        f"\n\n{repeats} alternating repeats; step rate = batch / median interval between optimiser steps."
