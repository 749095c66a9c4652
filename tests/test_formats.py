"""IDX and CIFAR-10 readers on small files written here in the real formats."""

import gzip
import pickle
import struct

import numpy as np
import pytest

from lab.data.files import CIFAR10DataModule, IDXDataModule
from lab.data.formats import read_cifar10_batch, read_idx
from lab.errors import LabError


def write_idx(path, array: np.ndarray, gz: bool = False) -> None:
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + b"".join(struct.pack(">I", d) for d in array.shape)
    data = header + array.astype(np.uint8).tobytes()
    with (gzip.open if gz else open)(path, "wb") as f:
        f.write(data)


def write_mnist(root, n_train=60, n_test=20, gz=False):
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    suffix = ".gz" if gz else ""
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        write_idx(root / f"{prefix}-images-idx3-ubyte{suffix}", rng.integers(0, 256, (n, 28, 28)), gz)
        write_idx(root / f"{prefix}-labels-idx1-ubyte{suffix}", np.arange(n) % 10, gz)


@pytest.mark.parametrize("gz", [False, True])
def test_idx_roundtrip(tmp_path, gz):
    images = np.random.default_rng(1).integers(0, 256, (5, 28, 28)).astype(np.uint8)
    path = tmp_path / ("x.idx.gz" if gz else "x.idx")
    write_idx(path, images, gz)
    assert np.array_equal(read_idx(path), images)


def test_truncated_idx_file_is_a_clear_error(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte"
    write_idx(path, np.zeros((10, 28, 28)))
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(LabError, match="truncated or corrupt.*download it again"):
        read_idx(path)


def test_truncated_gzip_is_a_clear_error(tmp_path):
    path = tmp_path / "t.gz"
    write_idx(path, np.zeros((50, 28, 28)), gz=True)
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(LabError, match="corrupt or truncated"):
        read_idx(path)


def test_not_an_idx_file(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello world")
    with pytest.raises(LabError, match="not an IDX file"):
        read_idx(path)


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_datamodule_reads_idx_files(tmp_path, gz):
    write_mnist(tmp_path / "mnist", gz=gz)
    dm = IDXDataModule(root=str(tmp_path / "mnist"), val_size=10, input_shape=(1, 28, 28), num_classes=10)
    dm.setup()
    assert [len(dm.splits[s]) for s in ("train", "val", "test")] == [50, 10, 20]
    x, y = next(iter(dm.test_dataloader()))
    assert x.shape == (20, 1, 28, 28) and 0.0 <= float(x.min()) and float(x.max()) <= 1.0
    assert y.tolist() == [i % 10 for i in range(20)]


def test_missing_mnist_files_are_named(tmp_path):
    (tmp_path / "mnist").mkdir()
    dm = IDXDataModule(root=str(tmp_path / "mnist"))
    with pytest.raises(LabError, match=r"files missing in .*mnist: train-images-idx3-ubyte, .*t10k-labels-idx1-ubyte"
                                       r".*Download them"):
        dm.setup()


def write_cifar(root, n=20):
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {b"data": rng.integers(0, 256, (n, 3072)).astype(np.uint8), b"labels": list(np.arange(n) % 10)}
        with open(root / name, "wb") as f:
            pickle.dump(batch, f)


def test_cifar_batches_are_read(tmp_path):
    write_cifar(tmp_path / "cifar")
    images, labels = read_cifar10_batch(tmp_path / "cifar" / "data_batch_1")
    assert images.shape == (20, 3, 32, 32) and labels.tolist()[:3] == [0, 1, 2]
    dm = CIFAR10DataModule(root=str(tmp_path / "cifar"), val_size=10, input_shape=(3, 32, 32))
    dm.setup()
    assert [len(dm.splits[s]) for s in ("train", "val", "test")] == [90, 10, 20]


def test_truncated_cifar_batch_is_a_clear_error(tmp_path):
    write_cifar(tmp_path / "cifar")
    path = tmp_path / "cifar" / "data_batch_3"
    path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(LabError, match="data_batch_3 is not a readable CIFAR-10 batch"):
        CIFAR10DataModule(root=str(tmp_path / "cifar")).setup()


def test_missing_cifar_files_are_named(tmp_path):
    with pytest.raises(LabError, match="CIFAR-10 files missing.*data_batch_1.*test_batch.*cifar-10-python.tar.gz"):
        CIFAR10DataModule(root=str(tmp_path / "nowhere")).setup()


def test_lenet_mnist_experiment_trains_from_idx_files(run_exp, tmp_path):
    write_mnist(tmp_path / "data" / "mnist", n_train=200, n_test=50, gz=True)
    metrics = run_exp(["experiment=lenet_mnist", f"data.root={tmp_path / 'data' / 'mnist'}", "data.val_size=50",
                       "trainer.max_epochs=1"])
    assert metrics["trainer/global_step"] == 2  # 150 training images, batch 128
    assert 0.0 <= metrics["test/acc"] <= 1.0


def test_mnist5k_cache_is_used_and_a_corrupt_one_is_rebuilt(tmp_path, monkeypatch):
    from lab.data import embedded

    monkeypatch.setenv("LAB_CACHE", str(tmp_path))
    embedded.mnist5k_arrays.cache_clear()
    x, y = embedded.mnist5k_arrays()
    assert x.shape == (5000, 784) and x.dtype == np.uint8 and set(np.unique(y)) == set(range(10))
    assert (tmp_path / "mnist5k.npz").is_file()
    (tmp_path / "mnist5k.npz").write_bytes(b"garbage")
    embedded.mnist5k_arrays.cache_clear()
    x2, y2 = embedded.mnist5k_arrays()
    assert np.array_equal(x, x2) and np.array_equal(y, y2)
    embedded.mnist5k_arrays.cache_clear()
