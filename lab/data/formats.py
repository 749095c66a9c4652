"""Readers of standard data-set file formats: IDX (MNIST, Fashion-MNIST) and CIFAR-10 python batches."""

from __future__ import annotations

import gzip
import pickle
from pathlib import Path

import numpy as np

from lab.errors import LabError

_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def find_file(root: str | Path, name: str) -> Path:
    """`root/name` or `root/name.gz`, whichever exists."""
    for candidate in (Path(root) / name, Path(root) / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(Path(root) / name)


def _read_bytes(path: Path) -> bytes:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                return f.read()
        return path.read_bytes()
    except (OSError, EOFError) as error:
        raise LabError(f"{path} cannot be read ({error}); the file is corrupt or truncated: download it again") from None


def read_idx(path: str | Path) -> np.ndarray:
    """Read one IDX file (gzipped or not) into an array of its declared type and shape."""
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_TYPES:
        raise LabError(f"{path} is not an IDX file (bad magic number); expected MNIST-style IDX data")
    dtype, ndim = np.dtype(_IDX_TYPES[data[2]]), data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise LabError(f"{path} is truncated: its header is incomplete; download it again")
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    expected = header + int(np.prod(shape)) * dtype.itemsize
    if len(data) != expected:
        raise LabError(f"{path} is truncated or corrupt: {len(data)} bytes where its header {shape} "
                       f"declares {expected}; download it again")
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def read_cifar10_batch(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read one CIFAR-10 python batch: images (N, 3, 32, 32) uint8 and labels (N,) int64."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            batch = pickle.load(f, encoding="bytes")
    except (pickle.UnpicklingError, EOFError, ValueError) as error:
        raise LabError(f"{path} is not a readable CIFAR-10 batch ({error}); it is corrupt or truncated") from None
    data, labels = batch.get(b"data"), batch.get(b"labels")
    if data is None or labels is None or len(data) != len(labels) or np.asarray(data).shape[1:] != (3072,):
        raise LabError(f"{path} lacks CIFAR-10's data (N x 3072) and labels; is it a CIFAR-10 python batch?")
    return np.asarray(data, dtype=np.uint8).reshape(-1, 3, 32, 32), np.asarray(labels, dtype=np.int64)
