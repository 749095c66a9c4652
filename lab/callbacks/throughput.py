"""Logs training samples per second: each rank's rate, summed over DDP ranks."""

from __future__ import annotations

import time

import pytorch_lightning as pl
import torch


def _batch_size(batch) -> int:
    if isinstance(batch, torch.Tensor):
        return batch.shape[0]
    if isinstance(batch, (list, tuple)) and batch:
        return _batch_size(batch[0])
    if isinstance(batch, dict) and batch:
        return _batch_size(next(iter(batch.values())))
    return 0


class Throughput(pl.Callback):
    """Measures samples per second over each training epoch and logs it as `perf/samples_per_sec`."""

    def on_train_start(self, trainer, pl_module) -> None:
        self.on_train_epoch_start(trainer, pl_module)  # a run resumed mid-epoch gets no on_train_epoch_start

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._samples, self._start = 0, time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self._samples += _batch_size(batch)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        elapsed = time.perf_counter() - self._start
        rate = self._samples / elapsed if elapsed > 0 else 0.0
        pl_module.log("perf/samples_per_sec", rate, sync_dist=True, reduce_fx="sum")  # every rank: a collective
