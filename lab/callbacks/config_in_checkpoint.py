"""Stores the run's resolved config (and its W&B run id) in every checkpoint: scripts rebuild the model from the
file alone, and a resumed run continues the same W&B run."""

from __future__ import annotations

import pytorch_lightning as pl
from pytorch_lightning.loggers import WandbLogger

from lab.run.checkpoint import CONFIG_KEY, WANDB_ID_KEY


class ConfigInCheckpoint(pl.Callback):
    def __init__(self, config: dict) -> None:
        self.config = config

    def on_save_checkpoint(self, trainer, pl_module, checkpoint) -> None:
        checkpoint[CONFIG_KEY] = self.config
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                checkpoint[WANDB_ID_KEY] = str(logger.version)
