"""Full data sets read from their standard files under `data.root`: MNIST, Fashion-MNIST, CIFAR-10."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from lab.data.arrays import ArrayDataModule, split_indices
from lab.data.formats import find_file, read_cifar10_batch, read_idx
from lab.errors import LabError

_IDX_NAMES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
_SOURCES = {
    "mnist": "https://ossci-datasets.s3.amazonaws.com/mnist/ (or http://yann.lecun.com/exdb/mnist/)",
    "fashion_mnist": "https://github.com/zalandoresearch/fashion-mnist (data/fashion/)",
}


def _train_val(x: torch.Tensor, y: torch.Tensor, val_size: int, seed: int):
    train, val = split_indices(len(x), (len(x) - val_size, val_size), seed)
    return (x[train], y[train]), (x[val], y[val])


class IDXDataModule(ArrayDataModule):
    """MNIST or Fashion-MNIST from the four IDX files (gzipped or not) in `root`."""

    def __init__(self, root: str = "data/mnist", dataset: str = "mnist", val_size: int = 5000, **kwargs) -> None:
        super().__init__(**kwargs)
        self.root, self.dataset, self.val_size = Path(root), dataset, val_size

    def load(self):
        paths = {}
        for name in _IDX_NAMES:
            try:
                paths[name] = find_file(self.root, name)
            except FileNotFoundError:
                missing = [n for n in _IDX_NAMES if not any((self.root / m).is_file() for m in (n, n + ".gz"))]
                raise LabError(f"{self.dataset} files missing in {self.root.resolve()}: {', '.join(missing)} "
                               f"(.gz or not). Download them from {_SOURCES.get(self.dataset, 'the data set site')} "
                               f"into that folder, or point data.root=... at it") from None
        images = {n: torch.from_numpy(read_idx(paths[n]).astype(np.float32) / 255.0).unsqueeze(1)
                  for n in _IDX_NAMES[::2]}
        labels = {n: torch.from_numpy(read_idx(paths[n]).astype(np.int64)) for n in _IDX_NAMES[1::2]}
        x, y = images[_IDX_NAMES[0]], labels[_IDX_NAMES[1]]
        if len(x) != len(y):
            raise LabError(f"{paths[_IDX_NAMES[0]]} has {len(x)} images but {paths[_IDX_NAMES[1]]} {len(y)} labels")
        train, val = _train_val(x, y, self.val_size, self.seed)
        return {"train": train, "val": val, "test": (images[_IDX_NAMES[2]], labels[_IDX_NAMES[3]])}


class CIFAR10DataModule(ArrayDataModule):
    """CIFAR-10 from its python batches (`data_batch_1..5`, `test_batch`) in `root`, normalised per channel."""

    MEAN, STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)

    def __init__(self, root: str = "data/cifar-10-batches-py", val_size: int = 5000, **kwargs) -> None:
        super().__init__(**kwargs)
        self.root, self.val_size = Path(root), val_size

    def load(self):
        names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
        missing = [n for n in names if not (self.root / n).is_file()]
        if missing:
            raise LabError(f"CIFAR-10 files missing in {self.root.resolve()}: {', '.join(missing)}. Download "
                           "cifar-10-python.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html, unpack it and "
                           "set data.root=<folder with data_batch_1..5 and test_batch>")
        batches = [read_cifar10_batch(self.root / n) for n in names]
        mean, std = torch.tensor(self.MEAN).view(1, 3, 1, 1), torch.tensor(self.STD).view(1, 3, 1, 1)

        def tensors(parts):
            x = torch.from_numpy(np.concatenate([p[0] for p in parts]).astype(np.float32) / 255.0)
            return (x - mean) / std, torch.from_numpy(np.concatenate([p[1] for p in parts]))

        x, y = tensors(batches[:5])
        train, val = _train_val(x, y, self.val_size, self.seed)
        return {"train": train, "val": val, "test": tensors(batches[5:])}
