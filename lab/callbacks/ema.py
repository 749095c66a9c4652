"""Lightning's EMAWeightAveraging, with the averaged weights in place for the whole validation epoch and for testing.

Lightning swaps the averaged weights in at `on_validation_epoch_start` and back at `on_validation_epoch_end`, and
it calls a callback's hook before the module's: a module that draws its samples and sample metrics in its own
`on_validation_epoch_end` would draw them from the raw weights. Here the swap back waits for `on_validation_end`,
which runs after the module's epoch-end hook and before ModelCheckpoint saves. Everything else is Lightning's: the
checkpoint's `state_dict` holds the averaged weights (the raw ones under `current_model_state`), so
`load_module` and `lab-sample`, which load `state_dict`, use the averaged weights; after `fit` the module holds
them too. Lightning restores callbacks for `trainer.test(ckpt_path=...)` as well, and its hook would then load the
raw weights into the module; here it restores them only to resume fitting, so testing runs on the averaged ones.
"""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.callbacks import EMAWeightAveraging
from pytorch_lightning.trainer.states import TrainerFn


class EMA(EMAWeightAveraging):
    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        pass

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_validation_epoch_end(trainer, pl_module)

    def on_load_checkpoint(self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]) -> None:
        if trainer.state.fn == TrainerFn.FITTING:
            super().on_load_checkpoint(trainer, pl_module, checkpoint)
