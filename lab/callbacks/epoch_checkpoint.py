"""Lightning's ModelCheckpoint with epochs in file names counted from 1, as the progress bar counts them.

`best-epoch{epoch:03d}-step{step}` names the third epoch's checkpoint `best-epoch003-step114.ckpt` (Lightning's
own would say `epoch002`). Only the name changes: the checkpoint's `epoch` field and the monitored values are
Lightning's.
"""

from __future__ import annotations

from pytorch_lightning.callbacks import ModelCheckpoint


class EpochCheckpoint(ModelCheckpoint):
    @property
    def state_key(self) -> str:
        # ModelCheckpoint's own key, so checkpoints saved under either class restore the best score on resume.
        return "ModelCheckpoint" + super().state_key.removeprefix(type(self).__qualname__)

    def format_checkpoint_name(self, metrics, filename=None, ver=None, prefix=None) -> str:
        if "epoch" in metrics:
            metrics = {**metrics, "epoch": metrics["epoch"] + 1}
        return super().format_checkpoint_name(metrics, filename=filename, ver=ver, prefix=prefix)
