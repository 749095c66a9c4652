"""Time series as sliding windows: `window` past values -> the next `horizon` values.

Sources: the Mackey-Glass equation (generated, chaotic), Google's daily prices 2004-2008 from matplotlib's sample
data (`series=goog`), or a column of any CSV file (`path=... column=...`). The series is cut in time order into
train / val / test; each window's targets lie in one part (its inputs may reach back into the previous part).
Mean and standard deviation come from the training part only; the forecaster keeps them in its checkpoint.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import TensorDataset

from lab.data.arrays import SplitDataModule
from lab.errors import LabError


def mackey_glass(n: int, tau: float = 17.0, beta: float = 0.2, gamma: float = 0.1, power: float = 10.0,
                 dt: float = 0.1, sample_every: float = 1.0, warmup: int = 500, x0: float = 1.2) -> np.ndarray:
    """dx/dt = beta x(t-tau) / (1 + x(t-tau)^power) - gamma x(t), integrated by Euler steps of `dt`."""
    stride = int(round(sample_every / dt))
    lag = int(round(tau / dt))
    steps = (n + warmup) * stride
    x = np.empty(steps + lag)
    x[:lag + 1] = x0
    for t in range(lag, steps + lag - 1):
        delayed = x[t - lag]
        x[t + 1] = x[t] + dt * (beta * delayed / (1.0 + delayed ** power) - gamma * x[t])
    return x[lag + warmup * stride::stride][:n].astype(np.float32)


def goog_prices(column: str = "adj_close") -> np.ndarray:
    """1,047 daily Google prices (2004-2008) shipped with matplotlib."""
    import matplotlib.cbook

    data = matplotlib.cbook.get_sample_data("goog.npz")["price_data"]
    names = [name for name in data.dtype.names if name != "date"]
    if column not in names:
        raise LabError(f"goog.npz has no column {column!r}; columns: {', '.join(names)}")
    return data[column].astype(np.float32)


def read_csv_column(path: str | Path, column: str | None) -> np.ndarray:
    """One numeric column of a CSV file with a header row."""
    path = Path(path)
    if not path.is_file():
        raise LabError(f"CSV file {path} does not exist; set data.path=... to a CSV file with a header row")
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        columns = reader.fieldnames or []
        if column is None or column not in columns:
            raise LabError(f"CSV file {path} has no column {column!r}; set data.column to one of: {', '.join(columns)}")
        values = []
        for line, row in enumerate(reader, start=2):
            try:
                values.append(float(row[column]))
            except (TypeError, ValueError):
                raise LabError(f"{path} line {line}: column {column!r} holds {row[column]!r}, not a number") from None
    return np.asarray(values, dtype=np.float32)


class SeriesDataModule(SplitDataModule):
    def __init__(self, series: str = "mackey_glass", path: str | None = None, column: str | None = None,
                 length: int = 3000, tau: float = 17.0, window: int = 32, horizon: int = 1,
                 val_fraction: float = 0.15, test_fraction: float = 0.15, batch_size: int = 64,
                 eval_batch_size: int = 512, num_workers: int = 0) -> None:
        super().__init__(batch_size, eval_batch_size, num_workers)
        self.series, self.path, self.column, self.length, self.tau = series, path, column, length, tau
        self.window, self.horizon = window, horizon
        self.fractions = (val_fraction, test_fraction)
        self.mean, self.std = 0.0, 1.0

    def values(self) -> np.ndarray:
        if self.path:
            return read_csv_column(self.path, self.column)
        if self.series == "mackey_glass":
            return mackey_glass(self.length, tau=self.tau)
        if self.series == "goog":
            return goog_prices(self.column or "adj_close")
        raise LabError(f"unknown data.series={self.series!r}; use mackey_glass or goog, or set data.path=... "
                       "and data.column=... for a CSV file")

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        values = torch.from_numpy(self.values())
        if not torch.isfinite(values).all():
            raise LabError("the series has missing or non-finite values; clean them before training")
        n = len(values)
        n_val, n_test = (int(n * fraction) for fraction in self.fractions)
        bounds = {"train": (0, n - n_val - n_test), "val": (n - n_val - n_test, n - n_test), "test": (n - n_test, n)}
        train = values[:bounds["train"][1]]
        self.mean, self.std = float(train.mean()), float(train.std().clamp_min(1e-8))
        scaled = (values - self.mean) / self.std
        span = self.window + self.horizon
        for name, (start, stop) in bounds.items():
            first = max(0, start - self.window)
            if stop - first < span or (name == "train" and stop - start < span):
                raise LabError(f"window {self.window} + horizon {self.horizon} = {span} values is longer than the "
                               f"{name} part of the series ({stop - start} of {n} values); lower data.window or "
                               "data.horizon, or use a longer series")
            windows = scaled[first:stop].unfold(0, span, 1)
            self.splits[name] = TensorDataset(windows[:, :self.window, None], windows[:, self.window:])
