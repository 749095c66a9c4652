"""Sequence models: training and sampling speed of the LSTM and attention language models at about the same size,
and the validation bits per character each charlm_* experiment reaches."""

from __future__ import annotations

import tempfile
import time

import pytorch_lightning as pl
import torch
import torch.nn.functional as F

from lab.bench import table
from lab.train import compose_config, run_experiment

DOC = "benchmarks.md"
TITLE = "Sequence models (character LM on stdlib source)"
EXPERIMENTS = ("charlm_rnn", "charlm_gru", "charlm_lstm", "charlm_attention")
VOCAB, BATCH, SEQ = 96, 32, 128


def _net(cfg) -> torch.nn.Module:
    """The experiment's net at its default size (the same net its LanguageModel trains)."""
    from hydra.utils import instantiate

    return instantiate(cfg.model.net, vocab_size=VOCAB, _convert_="all")


def train_tokens_per_second(net: torch.nn.Module, steps: int) -> float:
    """Forward + backward + Adam step on random (BATCH, SEQ) windows; warm-up steps not timed."""
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    tokens = torch.randint(0, VOCAB, (BATCH, SEQ + 1), generator=torch.Generator().manual_seed(0))
    net.train()

    def step():
        logits, _ = net(tokens[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, VOCAB), tokens[:, 1:].reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return steps * BATCH * SEQ / (time.perf_counter() - start)


@torch.no_grad()
def sample_tokens_per_second(net: torch.nn.Module, length: int) -> float:
    """One sequence, one token per call, carrying the net's state (the attention net recomputes its context)."""
    net.eval()
    token, state = torch.zeros(1, 1, dtype=torch.long), None
    start = time.perf_counter()
    for _ in range(length):
        logits, state = net(token, state)
        token = logits[:, -1:].argmax(-1)
    return length / (time.perf_counter() - start)


class BestBpc(pl.Callback):
    """Keeps the lowest val/bpc of a run (class-level, since Hydra builds the callback)."""

    best = float("inf")

    def on_fit_start(self, trainer, pl_module) -> None:
        BestBpc.best = float("inf")

    def on_validation_end(self, trainer, pl_module) -> None:  # after the module's epoch-end logging
        bpc = trainer.callback_metrics.get("val/bpc")
        if bpc is not None:
            BestBpc.best = min(BestBpc.best, float(bpc))


def final_bpc(experiment: str, overrides: list[str]) -> tuple[float, float, float]:
    """(best val bits/char, last val bits/char, fit seconds) of one run of `experiment`."""
    with tempfile.TemporaryDirectory() as out:
        metrics = run_experiment([f"experiment={experiment}", "logger=none", "~callbacks.progress_bar",
                                  "trainer.enable_progress_bar=false", "model.sample_length=100",
                                  f"+callbacks.best_bpc._target_={BestBpc.__module__}.BestBpc"] + overrides, out)
    return BestBpc.best, metrics["val/bpc"], metrics["time/fit_seconds"]


def run(quick: bool = False) -> str:
    """Quick: 1 epoch of 10 batches each. Full: every experiment as shipped (its own max_epochs)."""
    steps, length = (3, 50) if quick else (10, 300)
    overrides = ["trainer.max_epochs=1", "trainer.limit_train_batches=10"] if quick else []
    rows = []
    for experiment in EXPERIMENTS:
        cfg = compose_config([f"experiment={experiment}"])
        torch.manual_seed(0)
        net = _net(cfg)
        params = sum(p.numel() for p in net.parameters())
        epochs = 1 if quick else int(cfg.trainer.max_epochs)
        best, last, seconds = final_bpc(experiment, overrides)
        rows.append([experiment, f"{params:,}", train_tokens_per_second(net, steps),
                     sample_tokens_per_second(net, length), epochs, best, last, seconds])
    return table(["experiment", "parameters", f"train tokens/s (batch {BATCH}x{SEQ})", "sampling tokens/s",
                  "epochs" + (" (10 batches, quick)" if quick else ""), "best val bits/char", "last val bits/char",
                  "fit seconds"], rows)
