"""Stores the run's resolved config in every checkpoint, so scripts can rebuild the model from the file alone."""

from __future__ import annotations

import pytorch_lightning as pl

from lab.checkpoint import CONFIG_KEY


class ConfigInCheckpoint(pl.Callback):
    def __init__(self, config: dict) -> None:
        self.config = config

    def on_save_checkpoint(self, trainer, pl_module, checkpoint) -> None:
        checkpoint[CONFIG_KEY] = self.config
