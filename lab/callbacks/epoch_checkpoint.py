"""Lightning's ModelCheckpoint with epochs in file names counted from 1, and a `last.ckpt` that is really the last.

`best-epoch{epoch:03d}-step{step}` names the third epoch's checkpoint `best-epoch003-step114.ckpt` (Lightning's
own would say `epoch002`). Only the name changes: the checkpoint's `epoch` field and the monitored values are
Lightning's.

Lightning 2.6 writes `last.ckpt` only in an epoch whose top-k checkpoint was saved, so a run whose monitored value
stops improving (or whose last epochs fall between two `every_n_epochs` saves) keeps a stale `last.ckpt`. Here
`save_last=true` writes it at every periodic check, improved or not, and once more when training ends.
"""

from __future__ import annotations

from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.trainer.states import TrainerFn


class EpochCheckpoint(ModelCheckpoint):
    _last_saved_at: int | None = None

    @property
    def state_key(self) -> str:
        # ModelCheckpoint's own key, so checkpoints saved under either class restore the best score on resume.
        return "ModelCheckpoint" + super().state_key.removeprefix(type(self).__qualname__)

    def format_checkpoint_name(self, metrics, filename=None, ver=None, prefix=None) -> str:
        if "epoch" in metrics:
            metrics = {**metrics, "epoch": metrics["epoch"] + 1}
        return super().format_checkpoint_name(metrics, filename=filename, ver=ver, prefix=prefix)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        super().on_train_epoch_end(trainer, pl_module)
        if self._should_save_on_train_epoch_end(trainer):
            self._keep_last_current(trainer, periodic=True)

    def on_validation_end(self, trainer, pl_module) -> None:
        super().on_validation_end(trainer, pl_module)
        if not self._should_save_on_train_epoch_end(trainer):
            self._keep_last_current(trainer, periodic=True)

    def on_train_end(self, trainer, pl_module) -> None:
        super().on_train_end(trainer, pl_module)
        self._keep_last_current(trainer, periodic=False)

    def _save_last_checkpoint(self, trainer, monitor_candidates) -> None:
        super()._save_last_checkpoint(trainer, monitor_candidates)
        self._last_saved_at = trainer.global_step

    def _keep_last_current(self, trainer, periodic: bool) -> None:
        if (not self.save_last or trainer.fast_dev_run or trainer.sanity_checking
                or trainer.state.fn != TrainerFn.FITTING or self._last_saved_at == trainer.global_step):
            return
        if periodic and not (self._every_n_epochs >= 1 and (trainer.current_epoch + 1) % self._every_n_epochs == 0):
            return
        self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))
