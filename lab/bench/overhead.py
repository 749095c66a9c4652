"""Lightning's overhead: LeNet-5 on mnist5k, the same steps through the lab's Trainer path and a plain loop."""

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


def plain_loop(epochs: int, seed: int = 0) -> tuple[float, int]:
    """The same model, data and optimiser in a hand-written loop: (seconds, samples)."""
    torch.manual_seed(seed)
    data = MNIST5kDataModule(batch_size=64, seed=seed)
    data.setup()
    net = LeNet5()
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    samples, start = 0, time.perf_counter()
    for _ in range(epochs):
        net.train()
        for x, y in data.train_dataloader():
            optimizer.zero_grad(set_to_none=True)
            F.cross_entropy(net(x), y).backward()
            optimizer.step()
            samples += len(x)
    return time.perf_counter() - start, samples


def lab_path(epochs: int) -> tuple[float, int]:
    """`lab.train` with the default experiment's callbacks (checkpointing included), no validation or test."""
    with tempfile.TemporaryDirectory() as out:
        metrics = run_experiment(["experiment=lenet_mnist5k", "logger=none", f"trainer.max_epochs={epochs}",
                                  "trainer.limit_val_batches=0", "test=false", "trainer.enable_progress_bar=false"],
                                 out)
    return metrics["time/fit_seconds"], TRAIN_SIZE * epochs


def run(quick: bool = False) -> str:
    epochs, repeats = (1, 1) if quick else (2, 2)
    best = {"plain PyTorch loop": 0.0, "lab (Lightning Trainer)": 0.0}
    for _ in range(repeats):  # interleaved, best of each, so load on the machine hits both alike
        seconds, samples = plain_loop(epochs)
        best["plain PyTorch loop"] = max(best["plain PyTorch loop"], samples / seconds)
        seconds, samples = lab_path(epochs)
        best["lab (Lightning Trainer)"] = max(best["lab (Lightning Trainer)"], samples / seconds)
    plain = best["plain PyTorch loop"]
    rows = [[name, rate, rate / plain] for name, rate in best.items()]
    return table(["path", "samples/s", "ratio to plain loop"], rows)
