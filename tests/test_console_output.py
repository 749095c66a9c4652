"""What the console shows: one bar on one line with this epoch's values, epochs counted from 1 in the bar and in
checkpoint names, a table without repeated metrics, one plain line per restored checkpoint, and a train.log."""

import logging
import re
import subprocess
import sys

import pytest
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, IterableDataset, TensorDataset

from lab.callbacks.epoch_checkpoint import EpochCheckpoint
from lab.callbacks.progress import ClockColumn, CountColumn, LabProgressBar, short_metrics
from lab.models.train_log import TrainLog
from lab.run.summary import distinct

from conftest import REPO


class EpochMeans(pl.LightningModule):
    """Logs `train/loss` through TrainLog and `train/acc` = the epoch's number, both at the epoch's end."""

    def __init__(self):
        super().__init__()
        self.layer, self.train_log = torch.nn.Linear(1, 1), TrainLog()

    def training_step(self, batch, batch_idx):
        loss = self.layer(batch[0]).pow(2).mean()
        self.train_log.step(self, "train/loss", loss, batch_size=len(batch[0]), prog_bar=True)
        return loss

    def on_train_epoch_end(self):
        self.train_log.epoch_end(self)
        self.log("train/acc", float(self.current_epoch + 1), prog_bar=True)

    def train_dataloader(self):
        return DataLoader(TensorDataset(torch.linspace(-1, 1, 16)[:, None]), batch_size=4)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


class Shown(pl.Callback):
    """What the bar shows when each epoch starts (the one before it has ended) and when training ends."""

    def __init__(self, bar):
        self.bar, self.seen = bar, []

    def on_train_epoch_start(self, trainer, pl_module):
        if trainer.current_epoch:
            self.seen.append(dict(self.bar.shown))

    def on_train_end(self, trainer, pl_module):
        self.seen.append(dict(self.bar.shown))


def _trainer(bar, *callbacks, **kwargs):
    return pl.Trainer(callbacks=[bar, *callbacks], logger=False, enable_checkpointing=False,
                      enable_model_summary=False, log_every_n_steps=1, **kwargs)


def test_the_bar_shows_each_epochs_own_values_when_it_ends():
    torch.manual_seed(0)
    bar = LabProgressBar()
    shown = Shown(bar)
    trainer = _trainer(bar, shown, max_epochs=3)
    trainer.fit(EpochMeans())
    assert [s["acc"] for s in shown.seen] == ["1", "2", "3"]  # not the epoch before's value, one epoch late
    assert shown.seen[-1]["loss"] == f"{trainer.callback_metrics['train/loss'].item():.3g}"  # the epoch mean


class OneRolloutPerEpoch(pl.LightningModule):
    """An RL-shaped module: one batch per epoch from an iterable loader; `planned_epochs` when it has a budget."""

    def __init__(self, planned_epochs=None):
        super().__init__()
        self.layer = torch.nn.Linear(1, 1)
        if planned_epochs:
            self.planned_epochs = planned_epochs

    def training_step(self, batch, batch_idx):
        return self.layer(batch).pow(2).mean()

    def train_dataloader(self):
        class Rollout(IterableDataset):
            def __iter__(self):
                yield torch.ones(4, 1)

        return DataLoader(Rollout(), batch_size=None)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def _train_task(planned_epochs):
    bar = LabProgressBar()
    _trainer(bar, max_epochs=-1, max_steps=4).fit(OneRolloutPerEpoch(planned_epochs))
    (task,) = [t for t in bar.progress.tasks if t.id == bar.train_progress_bar_id]
    return task, CountColumn().render(task).plain, ClockColumn().render(task).plain


def test_an_rl_bar_counts_the_runs_epochs_and_an_unknown_epoch_length_shows_no_placeholder():
    task, count, clock = _train_task(planned_epochs=4)
    assert (task.description, task.completed, task.total, count) == ("Epoch 4/4", 4, 4, "")
    assert re.fullmatch(r"\d+:\d\d", clock)  # finished: the time it took
    task, count, clock = _train_task(planned_epochs=None)
    assert task.description == "Epoch 4" and re.fullmatch(r"1(/1)?", count)  # Lightning learns the length
    assert "-" not in clock


def test_the_metrics_fit_the_room_they_have():
    items = {"val/acc": 0.97, "train/loss_step": 0.31234, "train/loss_epoch": 0.4, "eval/return_mean": 212.0}
    assert list(short_metrics(items).items()) == [("loss", "0.312"), ("val_acc", "0.97"), ("eval_return", "212")]
    assert short_metrics(items, epoch_over=True)["loss"] == "0.4"
    assert short_metrics(items, width=len("loss: 0.312 val_acc: 0.97")) == {"loss": "0.312", "val_acc": "0.97"}


def test_checkpoint_names_count_epochs_from_one(tmp_path):
    checkpoint = EpochCheckpoint(dirpath=tmp_path, filename="best-epoch{epoch:03d}-step{step}",
                                 auto_insert_metric_name=False)
    name = checkpoint.format_checkpoint_name({"epoch": torch.tensor(2), "step": torch.tensor(114)})
    assert name.endswith("best-epoch003-step114.ckpt")  # the third epoch, as the bar says `Epoch 3/3`


def test_the_table_leaves_out_keys_that_repeat_another():
    metrics = {"train/loss": 0.5, "train/loss_epoch": 0.5, "train/loss_step": 0.6, "train/kl_epoch": 1.0,
               "trainer/global_step": 96.0, "train/grad_steps": 96.0,
               "perf/env_steps_per_sec": 9e3, "perf/rank_env_steps_per_sec": 9e3}
    assert list(distinct(metrics)) == ["perf/env_steps_per_sec", "train/grad_steps", "train/kl_epoch", "train/loss",
                                       "train/loss_step"]
    assert "trainer/global_step" in distinct({**metrics, "train/grad_steps": 95.0})


def test_no_api_key_is_one_plain_info_line(monkeypatch, tmp_path, caplog):
    from lab.run.wandb_mode import choose_wandb_mode

    for key in ("WANDB_MODE", "WANDB_API_KEY"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "none"))
    with caplog.at_level(logging.INFO, logger="lab"):
        assert choose_wandb_mode() == "offline"
    assert [(r.name, r.levelno) for r in caplog.records] == [("lab", logging.INFO)]


@pytest.mark.slow  # two lab-train processes, ~25 s
def test_a_run_at_80_columns_one_bar_line_no_restoring_lines_and_a_train_log(tmp_path):
    env = {**__import__("os").environ, "COLUMNS": "80", "WANDB_MODE": "offline"}
    result = subprocess.run([sys.executable, str(REPO / "scripts" / "train.py"), "experiment=xor_mlp",
                             "trainer.max_epochs=2", "logger=csv"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    (at,) = [i for i, line in enumerate(lines) if line.startswith("Epoch ")]
    assert lines[at].startswith("Epoch 2/2 ") and len(lines[at]) <= 80
    assert not lines[at + 1].startswith(" ")  # no metrics wrapped onto a second line
    out = result.stdout + result.stderr
    assert "Restoring states" not in out and "Loaded model weights" not in out and "][lab" not in out
    (run_dir,) = (tmp_path / "outputs" / "xor_mlp").iterdir()
    (best,) = (run_dir / "checkpoints").glob("best-*.ckpt")
    assert out.count("testing ") == 1 and f"testing {best}" in out
    epoch = int(re.match(r"best-epoch(\d+)-", best.name).group(1))
    assert epoch == torch.load(best, weights_only=True)["epoch"] + 1 and 1 <= epoch <= 2
    log = (run_dir / "train.log").read_text()
    assert f"best checkpoint (val/loss" in log and "final metrics: {" in log and "testing" in log

    last = run_dir / "checkpoints" / "last.ckpt"
    resumed = subprocess.run([sys.executable, str(REPO / "scripts" / "train.py"), "experiment=xor_mlp",
                              "trainer.max_epochs=3", "logger=csv", "test=false", f"ckpt_path={last}"], cwd=tmp_path,
                             env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    out = resumed.stdout + resumed.stderr
    assert "Restor" not in out and out.count(f"resumed from {last} at step 32 (epoch 3)") == 1
    assert "resumed from" in (run_dir / "train.log").read_text()


@pytest.mark.slow
def test_ddp_runs_show_no_banner_and_no_distributed_warnings(tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith(("SLURM_", "MASTER_", "RANK"))}
    result = subprocess.run([sys.executable, str(REPO / "scripts" / "train.py"), "experiment=xor_mlp",
                             "trainer.max_epochs=1", "logger=csv", "trainer=ddp", "trainer.devices=2"],
                            cwd=tmp_path, env={**env, "MASTER_PORT": str(port), "WANDB_MODE": "offline"},
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout + result.stderr
    for noise in ("Initializing distributed", "distributed_backend", "All distributed processes", "sync_dist=True",
                  "DistributedSampler"):
        assert noise not in out
    assert out.count("testing ") == 1
    (run_dir,) = (tmp_path / "outputs" / "xor_mlp").iterdir()
    assert sorted(p.name for p in run_dir.glob("*.log")) == ["train.log"]  # rank 1 had nothing to log
