"""The run's own log lines: which checkpoint a run resumed from or tests, and which checkpoints it saved.

They replace Lightning's `Restoring states from the checkpoint path at ...` / `Loaded model weights ...` pairs
(filtered by `lab.run.quiet`) with one plain line each, on rank 0. Logger `lab` reaches the console and the run's
`train.log` (conf/hydra/default.yaml); logger `lab.record` reaches `train.log` only.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytorch_lightning as pl

log = logging.getLogger("lab")
record = logging.getLogger("lab.record")


class RunLog(pl.Callback):
    def on_train_start(self, trainer, pl_module) -> None:
        if trainer.ckpt_path and trainer.is_global_zero:  # the loop's counters are restored by now
            within, per_epoch = trainer.fit_loop.epoch_loop.batch_progress.current.ready, trainer.num_training_batches
            mid_epoch = per_epoch not in (0, float("inf")) and within % per_epoch != 0
            mid = ", mid-epoch: the rest of this epoch's data order is new" if mid_epoch else ""
            log.info("resumed from %s at step %d (epoch %d%s)", trainer.ckpt_path, trainer.global_step,
                     trainer.current_epoch + 1, mid)

    def on_test_start(self, trainer, pl_module) -> None:
        if trainer.ckpt_path and trainer.is_global_zero:
            log.info("testing %s", trainer.ckpt_path)

    def on_fit_end(self, trainer, pl_module) -> None:
        checkpoint = trainer.checkpoint_callback
        if checkpoint is None or not trainer.is_global_zero:
            return
        best = getattr(checkpoint, "best_model_path", "")
        score = getattr(checkpoint, "best_model_score", None)
        last = getattr(checkpoint, "last_model_path", "")
        if best:
            monitor = getattr(checkpoint, "monitor", None)
            scored = f" ({monitor} {float(score):.4g})" if monitor and score is not None else ""
            record.info("best checkpoint%s: %s", scored, best)
        if last and Path(last).exists():
            record.info("last checkpoint: %s", last)
