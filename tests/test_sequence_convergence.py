"""Sequence models learn: char-LM perplexity far below unigram, row-MNIST accuracy, forecasts vs the naive forecast."""

from __future__ import annotations

import math
from collections import Counter

import pytest
import torch

from lab.data.text import TextDataModule

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_thread")]


def unigram_perplexity(seq_len: int) -> float:
    """Perplexity on the validation text of character frequencies counted on the training text."""
    data = TextDataModule(seq_len=seq_len)
    data.setup()
    train, val = (data.splits[name].all()[:, :-1].flatten().tolist() for name in ("train", "val"))
    counts, total = Counter(train), len(train)
    cross_entropy = -sum(math.log(counts[c] / total) for c in val) / len(val)
    return math.exp(cross_entropy)


def test_char_lstm_perplexity_falls_far_below_unigram(run_exp, capsys):
    metrics = run_exp(["experiment=charlm_lstm", "data.seq_len=64", "data.batch_size=32", "model.net.hidden_size=128",
                       "model.optimizer.lr=0.01", "model.sample_length=60", "trainer.max_epochs=1"])
    unigram = unigram_perplexity(64)
    print(f"val perplexity {metrics['val/ppl']:.2f}, unigram {unigram:.2f}, bpc {metrics['val/bpc']:.3f}")
    assert 15 < unigram < 30  # the default corpus is the King James Bible: 63 characters, unigram 20.5
    assert metrics["val/ppl"] < 0.6 * unigram  # one epoch: 3,200 random windows, 100 steps
    assert metrics["val/bpc"] == pytest.approx(math.log2(metrics["val/ppl"]), rel=1e-4)
    assert "--- sample, epoch 1, temperature 0.8 ---\nAnd " in capsys.readouterr().out


def test_row_mnist_lstm_reaches_90_percent(run_exp):
    metrics = run_exp(["experiment=seqmnist_lstm", "trainer.max_epochs=6"])
    assert metrics["test/acc"] >= 0.90


def test_forecaster_beats_naive_on_mackey_glass(run_exp, tmp_path):
    metrics = run_exp(["experiment=forecast_lstm", "trainer.max_epochs=3"])
    assert metrics["test/mse"] < 0.5 * metrics["test/naive_mse"]  # measured: ratio 0.19
    assert metrics["test/mse_ratio"] == pytest.approx(metrics["test/mse"] / metrics["test/naive_mse"], rel=1e-4)
    assert list((tmp_path / "run" / "images").glob("test_forecast.png"))


def test_forecaster_on_stock_prices_is_reported_against_naive(run_exp):
    """Daily prices are close to a random walk: the naive forecast is near-optimal and the model is not expected
    to beat it. Assert only that the ratio is reported and sane: far below 1 would suggest leakage, far above a
    broken model."""
    metrics = run_exp(["experiment=forecast_stock", "trainer.max_epochs=5"])
    ratio = metrics["test/mse_ratio"]
    print(f"stock: test mse {metrics['test/mse']:.1f}, naive {metrics['test/naive_mse']:.1f}, ratio {ratio:.3f}")
    assert math.isfinite(ratio)
    assert 0.8 < ratio < 1.5
