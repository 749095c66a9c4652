"""Lightning's EMAWeightAveraging, with the averaged weights in place for the whole validation epoch.

Lightning swaps the averaged weights in at `on_validation_epoch_start` and back at `on_validation_epoch_end`, and
it calls a callback's hook before the module's: a module that draws its samples and sample metrics in its own
`on_validation_epoch_end` would draw them from the raw weights. Here the swap back waits for `on_validation_end`,
which runs after the module's epoch-end hook and before ModelCheckpoint saves. Everything else is Lightning's: the
checkpoint's `state_dict` holds the averaged weights (the raw ones under `current_model_state`), so
`load_module`, `lab-sample` and the test loop, which load `state_dict`, use the averaged weights; after `fit` the
module holds them too.
"""

from __future__ import annotations

import pytorch_lightning as pl
from pytorch_lightning.callbacks import EMAWeightAveraging


class EMA(EMAWeightAveraging):
    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        pass

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        super().on_validation_epoch_end(trainer, pl_module)
