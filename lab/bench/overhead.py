"""Lightning's overhead: LeNet-5 on mnist5k, the same steps through the lab's Trainer path and a plain loop.

Two rates each: steady state (the last epoch, start-up excluded) and the whole fit (start-up, checkpoints
and all, divided into the same samples).
"""

from __future__ import annotations

import tempfile
import time

import torch
import torch.nn.functional as F

from lab.bench import table
from lab.data.embedded import MNIST5kDataModule
from lab.nets.lenet import LeNet5
from lab.train import run_experiment

TITLE = "Lightning overhead (LeNet-5, mnist5k, batch 64)"
TRAIN_SIZE = 4000  # MNIST5kDataModule's default training split


def plain_loop(epochs: int, seed: int = 0) -> tuple[float, float]:
    """The same model, data and optimiser in a hand-written loop: (last-epoch samples/s, whole-run samples/s)."""
    start = time.perf_counter()
    torch.manual_seed(seed)
    data = MNIST5kDataModule(batch_size=64, seed=seed)
    data.setup()
    net = LeNet5()
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    for _ in range(epochs):
        epoch_start = time.perf_counter()
        net.train()
        for x, y in data.train_dataloader():
            optimizer.zero_grad(set_to_none=True)
            F.cross_entropy(net(x), y).backward()
            optimizer.step()
        last = TRAIN_SIZE / (time.perf_counter() - epoch_start)
    return last, TRAIN_SIZE * epochs / (time.perf_counter() - start)


def lab_path(epochs: int) -> tuple[float, float]:
    """`lab.train` with the default experiment's callbacks (checkpoint every epoch), no validation or test."""
    with tempfile.TemporaryDirectory() as out:
        metrics = run_experiment(["experiment=lenet_mnist5k", "logger=none", f"trainer.max_epochs={epochs}",
                                  "trainer.limit_val_batches=0", "test=false", "trainer.enable_progress_bar=false",
                                  "callbacks.model_checkpoint.monitor=null"], out)
    return metrics["perf/samples_per_sec"], TRAIN_SIZE * epochs / metrics["time/fit_seconds"]


def run(quick: bool = False) -> str:
    epochs, repeats = (2, 1) if quick else (5, 2)
    best = {"plain PyTorch loop": (0.0, 0.0), "lab (Lightning Trainer)": (0.0, 0.0)}
    for _ in range(repeats):  # interleaved, best of each, so load on the machine hits both alike
        for name, measure in (("plain PyTorch loop", plain_loop), ("lab (Lightning Trainer)", lab_path)):
            last, whole = measure(epochs)
            best[name] = (max(best[name][0], last), max(best[name][1], whole))
    plain_last, plain_whole = best["plain PyTorch loop"]
    rows = [[name, last, last / plain_last, whole, whole / plain_whole] for name, (last, whole) in best.items()]
    return table(["path", "samples/s, last epoch", "ratio", f"samples/s, whole {epochs}-epoch fit", "ratio"], rows)
