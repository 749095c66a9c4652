"""TrainLog: the epoch mean and step values Lightning's on_step+on_epoch logging gives, on fewer steps."""

import csv

import pytest
import pytorch_lightning as pl
import torch
from pytorch_lightning.loggers import CSVLogger

from lab.models.train_log import TrainLog

SIZES = [4, 4, 4, 4, 3]  # 19 samples in batches of 4: the last batch is smaller


class Logs(pl.LightningModule):
    def __init__(self, use_train_log: bool):
        super().__init__()
        self.layer = torch.nn.Linear(1, 1)
        self.use_train_log, self.train_log, self.losses = use_train_log, TrainLog(), []

    def training_step(self, batch, batch_idx):
        loss = self.layer(batch[0]).pow(2).mean()
        self.losses.append((float(loss.detach()), len(batch[0])))
        if self.use_train_log:
            self.train_log.step(self, "train/loss", loss, batch_size=len(batch[0]), prog_bar=True)
        else:
            self.log("train/loss", loss, on_step=True, on_epoch=True, prog_bar=True)
        return loss

    def on_train_epoch_end(self):
        if self.use_train_log:
            self.train_log.epoch_end(self)

    def train_dataloader(self):
        return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.linspace(-1, 1, 19)[:, None]),
                                           batch_size=4)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def _fit(tmp_path, use_train_log: bool):
    torch.manual_seed(0)
    module = Logs(use_train_log)
    logger = CSVLogger(tmp_path / str(use_train_log), name="")
    trainer = pl.Trainer(max_epochs=2, log_every_n_steps=2, logger=logger, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(module)
    with open(logger.log_dir + "/metrics.csv") as f:
        rows = list(csv.DictReader(f))
    return module, trainer, rows


def _column(rows, key):
    return [(int(r["step"]), float(r[key])) for r in rows if r.get(key)]


def test_epoch_mean_is_weighted_by_batch_size_and_matches_lightning(tmp_path):
    module, trainer, rows = _fit(tmp_path, use_train_log=True)
    last_epoch = module.losses[len(SIZES):]
    expected = sum(loss * n for loss, n in last_epoch) / sum(SIZES)
    assert trainer.callback_metrics["train/loss_epoch"].item() == pytest.approx(expected, rel=1e-5)
    assert trainer.callback_metrics["train/loss"].item() == pytest.approx(expected, rel=1e-5)
    _, lightning, lightning_rows = _fit(tmp_path, use_train_log=False)
    ours, theirs = _column(rows, "train/loss_epoch"), _column(lightning_rows, "train/loss_epoch")
    assert [step for step, _ in ours] == [step for step, _ in theirs]
    assert [value for _, value in ours] == pytest.approx([value for _, value in theirs], rel=1e-5)


def test_step_values_reach_the_logger_on_the_same_steps_as_lightning(tmp_path):
    _, _, rows = _fit(tmp_path, use_train_log=True)
    _, _, lightning_rows = _fit(tmp_path, use_train_log=False)
    ours, theirs = _column(rows, "train/loss_step"), _column(lightning_rows, "train/loss_step")
    assert [step for step, _ in ours] == [step for step, _ in theirs] == [1, 3, 5, 7, 9]
    assert [value for _, value in ours] == pytest.approx([value for _, value in theirs], rel=1e-5)
