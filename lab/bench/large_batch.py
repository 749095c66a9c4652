"""The large-batch recipe (Goyal et al. 2017, "Accurate, Large Minibatch SGD"): LeNet-5 on the 5,000 embedded MNIST
digits (lenet_mnist5k), the same epochs and seed, at the shipped batch and at 8x that batch: with the lr unchanged,
with the lr scaled linearly (`model.optimizer.scale_lr=linear`), the same after a linear warm-up (`model.scheduler=
warmup_cosine` with `min_lr` = the scaled lr: warm-up, then constant), and that split over 2 DDP ranks (gloo).

Every configuration runs as its own `python -m lab.train` process (DDP needs one); test accuracy is the test split's
on the best validation checkpoint, fit seconds are `Trainer.fit`'s wall time."""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

from lab.bench import table
from lab.run.resources import train_command

DOC = "benchmarks.md"
TITLE = "Large-batch training: linear lr scaling with warm-up (LeNet-5, MNIST 5k)"
BATCH, LR, FACTOR = 64, 1e-3, 8       # lenet_mnist5k's shipped batch and Adam lr; the large batch is 8x
EPOCHS, WARMUP_EPOCHS = 10, 2
TRAIN = 4000                          # training digits
QUIET = ["experiment=lenet_mnist5k", "logger=none", "trainer.enable_progress_bar=false", "seed=0"]


def _train(overrides: list[str]) -> dict:
    """Run one configuration in a fresh process; return its metrics.json."""
    with tempfile.TemporaryDirectory(prefix="lab-bench-") as out:
        command = [*train_command(), *QUIET, *overrides, f"hydra.run.dir={out}"]
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(overrides)} failed: {result.stderr.strip().splitlines()[-3:]}")
        return json.loads(Path(out, "metrics.json").read_text())


def recipe_overrides() -> list[str]:
    """Scale the lr linearly from the shipped batch; warm up over WARMUP_EPOCHS epochs of the large batch, then hold
    the scaled lr (min_lr = the peak)."""
    warmup = WARMUP_EPOCHS * -(-TRAIN // (BATCH * FACTOR))
    return ["model.optimizer.scale_lr=linear", f"model.optimizer.reference_batch={BATCH}",
            "model.scheduler=warmup_cosine", f"model.scheduler.warmup_steps={warmup}",
            f"model.scheduler.min_lr={LR * FACTOR:g}"]


def cases(epochs: int) -> list[tuple[str, int, list[str]]]:
    """(name, global batch, overrides) of the runs."""
    big = BATCH * FACTOR
    recipe = recipe_overrides()
    run = [f"trainer.max_epochs={epochs}"]
    return [(f"batch {BATCH} (shipped), lr {LR:g}", BATCH, run),
            (f"batch {big}, lr {LR:g} unchanged", big, [*run, f"data.batch_size={big}"]),
            (f"batch {big}, lr scaled to {LR * FACTOR:g}, no warm-up", big,
             [*run, f"data.batch_size={big}", *recipe[:2]]),
            (f"batch {big}, lr scaled to {LR * FACTOR:g}, {WARMUP_EPOCHS}-epoch warm-up", big,
             [*run, f"data.batch_size={big}", *recipe]),
            (f"the same over 2 DDP ranks (gloo, {big // 2} per rank)", big,
             [*run, f"data.batch_size={big // 2}", *recipe, "trainer=ddp", "trainer.devices=2"])]


def run(quick: bool = False) -> str:
    epochs = 2 if quick else EPOCHS
    rows, accuracies = [], []
    for name, batch, overrides in cases(epochs):
        metrics = _train(overrides)
        accuracies.append(100 * metrics["test/acc"])
        rows.append([name, batch, int(metrics["trainer/global_step"]), f"{accuracies[-1]:.1f}",
                     f"{accuracies[-1] - accuracies[0]:+.1f}", metrics["time/fit_seconds"]])
    note = (f"\n\n{epochs} epochs each, seed 0, Adam; test accuracy in % on the 500 held-out digits (best validation "
            f"checkpoint). The recipe: `lab-train experiment=lenet_mnist5k data.batch_size={BATCH * FACTOR} "
            f"{' '.join(recipe_overrides())}`.")
    return table(["run", "global batch", "optimiser steps", "test acc %", "vs shipped", "fit s"], rows) + note
