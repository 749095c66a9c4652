"""Lightning's overhead: LeNet-5 on mnist5k, the same steps through the lab's Trainer path and a plain loop.

Two rates each: the median step (time from one optimiser step's end to the next one's, data loading and
every hook included; robust to a noisy neighbour on a shared machine) and the whole fit (start-up,
checkpoints and all, divided into the same samples).
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
from lab.train import run_experiment

TITLE = "Lightning overhead (LeNet-5, mnist5k, batch 64)"
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


def plain_loop(epochs: int, seed: int = 0) -> tuple[float, float]:
    """The same model, data and optimiser in a hand-written loop: (median-step samples/s, whole-run samples/s)."""
    start = time.perf_counter()
    torch.manual_seed(seed)
    data = MNIST5kDataModule(batch_size=BATCH, seed=seed)
    data.setup()
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


def lab_path(epochs: int) -> tuple[float, float]:
    """`lab.train` with the default experiment's callbacks (checkpoint every epoch), no validation or test."""
    with tempfile.TemporaryDirectory() as out:
        metrics = run_experiment(["experiment=lenet_mnist5k", "logger=none", f"trainer.max_epochs={epochs}",
                                  "trainer.limit_val_batches=0", "test=false", "trainer.enable_progress_bar=false",
                                  "callbacks.model_checkpoint.monitor=null",
                                  f"+callbacks.step_timer._target_={StepTimer.__module__}.StepTimer"], out)
    return BATCH / statistics.median(StepTimer.intervals), TRAIN_SIZE * epochs / metrics["time/fit_seconds"]


def run(quick: bool = False) -> str:
    """Alternates the two paths and reports medians over the repeats: each ratio is taken within one
    repeat, where both paths ran back to back, so slow drift in the machine's speed cancels out."""
    epochs, repeats = (2, 1) if quick else (3, 7)
    rates: dict[str, list[tuple[float, float]]] = {"plain PyTorch loop": [], "lab (Lightning Trainer)": []}
    for _ in range(repeats):
        for name, measure in (("plain PyTorch loop", plain_loop), ("lab (Lightning Trainer)", lab_path)):
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
