"""A DataModule over in-memory tensors: seeded train/val/test split, shape checks, plain DataLoaders."""

from __future__ import annotations

from typing import Sequence

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

from lab.errors import LabError


def split_indices(n: int, sizes: Sequence[int], seed: int) -> list[torch.Tensor]:
    """Shuffle range(n) with `seed` and cut it into consecutive parts of the given sizes."""
    if sum(sizes) > n:
        raise LabError(f"split sizes {list(sizes)} need {sum(sizes)} examples but the data has {n}")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    parts, start = [], 0
    for size in sizes:
        parts.append(order[start:start + size])
        start += size
    return parts


class SplitDataModule(pl.LightningDataModule):
    """Holds `splits` ('train', 'val', optional 'test' datasets) and serves them: shuffled for training only."""

    def __init__(self, batch_size: int = 64, eval_batch_size: int = 512, num_workers: int = 0) -> None:
        super().__init__()
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size
        self.num_workers = num_workers
        self.splits: dict[str, TensorDataset] = {}

    def _loader(self, name: str, train: bool) -> DataLoader:
        return DataLoader(self.splits[name], batch_size=self.batch_size if train else self.eval_batch_size,
                          shuffle=train, num_workers=self.num_workers, drop_last=False,
                          persistent_workers=self.num_workers > 0)

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test" if "test" in self.splits else "val", False)


class ArrayDataModule(SplitDataModule):
    """Subclasses implement `load()` returning {'train': (x, y), 'val': ..., 'test': ...} tensors."""

    def __init__(self, batch_size: int = 64, eval_batch_size: int = 512, input_shape: Sequence[int] | None = None,
                 num_classes: int | None = None, seed: int = 0, num_workers: int = 0) -> None:
        super().__init__(batch_size, eval_batch_size, num_workers)
        self.input_shape = tuple(input_shape) if input_shape is not None else None
        self.num_classes = num_classes
        self.seed = seed

    def load(self) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        raise NotImplementedError

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        for name, (x, y) in self.load().items():
            self._check(name, x, y)
            self.splits[name] = TensorDataset(x, y)

    def _check(self, name: str, x: torch.Tensor, y: torch.Tensor) -> None:
        if self.input_shape is not None and tuple(x.shape[1:]) != self.input_shape:
            raise LabError(f"{type(self).__name__} {name} examples have shape {tuple(x.shape[1:])} but the config "
                           f"says data.input_shape={list(self.input_shape)}; the network is built for the latter")
        if self.num_classes is not None and y.dtype == torch.long and len(y) and int(y.max()) >= self.num_classes:
            raise LabError(f"{type(self).__name__} has label {int(y.max())} but data.num_classes={self.num_classes}")

    def images(self, name: str = "test", n: int = 64) -> torch.Tensor:
        """The first `n` inputs of a split (for pictures and feature statistics)."""
        self.setup()
        return self.splits[name].tensors[0][:n]
