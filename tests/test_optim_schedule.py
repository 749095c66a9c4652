"""Shared optimiser config (lab/models/optim.py): decay groups, the per-step warm-up/cosine schedule, the linear
large-batch lr rule in one process and over 2 gloo DDP ranks, and the refusal of an unknown rule."""

from __future__ import annotations

import functools
import json
import logging
import math
import subprocess
import sys
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from torch import nn

from lab.errors import LabError
from lab.models.optim import build_optimizer
from tests.conftest import REPO
from tests.test_scale_ddp import env, free_port

PROBE = "+callbacks.lr_probe._target_=tests.test_optim_schedule.LrProbe"


class LrProbe(pl.Callback):
    """Writes the lr each optimiser step ran with to <run dir>/lr_rank<R>.json."""

    def __init__(self) -> None:
        self.lrs: list[float] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.lrs.append(trainer.optimizers[0].param_groups[0]["lr"])

    def on_train_end(self, trainer, pl_module) -> None:
        path = f"{trainer.default_root_dir}/lr_rank{trainer.global_rank}.json"
        with open(path, "w") as f:
            json.dump(self.lrs, f)


def lrs(run_dir, rank: int = 0) -> list[float]:
    return json.loads((run_dir / f"lr_rank{rank}.json").read_text())


class TinyLM(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(10, 4)
        self.conv = nn.Conv1d(4, 4, 3, padding=1)
        self.fc = nn.Linear(4, 4)
        self.norm = nn.LayerNorm(4)
        self.head = nn.Linear(4, 10, bias=False)
        self.head.weight = self.embed.weight  # tied


def test_adamw_decays_linear_and_conv_weights_only_and_lists_a_tied_weight_once():
    net = TinyLM()
    opt = build_optimizer(net, functools.partial(torch.optim.AdamW, lr=1e-3, weight_decay=0.1), net)
    decay, no_decay = opt.param_groups
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert [id(p) for p in decay["params"]] == [id(net.conv.weight), id(net.fc.weight)]
    assert {id(p) for p in no_decay["params"]} == {id(p) for p in (net.embed.weight, net.conv.bias, net.fc.bias,
                                                                  net.norm.weight, net.norm.bias)}
    assert len(no_decay["params"]) == 5  # the tied embedding/head weight once


def test_without_weight_decay_all_parameters_form_one_group():
    net = TinyLM()
    opt = build_optimizer(net, functools.partial(torch.optim.Adam, lr=1e-3, weight_decay=0.0), net)
    assert len(opt.param_groups) == 1 and len(opt.param_groups[0]["params"]) == len(list(net.parameters()))


def test_warmup_cosine_gives_the_lr_of_each_optimiser_step(run_exp, one_thread):
    # xor: 16 batches an epoch; max_steps=33 ends the run inside epoch 3, so the schedule spans steps 0..32
    peak, floor, warmup, total = 0.05, 1e-3, 4, 33
    metrics = run_exp(["experiment=xor_mlp", "trainer.max_epochs=3", f"trainer.max_steps={total}", "test=false",
                       "model.scheduler=warmup_cosine", f"model.scheduler.warmup_steps={warmup}",
                       f"model.scheduler.min_lr={floor}", PROBE])
    seen = lrs(Path(metrics["run_dir"]))
    assert len(seen) == total
    middle = warmup + (total - 1 - warmup) // 2  # half way down the cosine
    expected = {0: peak / 4, 1: peak / 2, 3: peak, 4: peak, middle: (peak + floor) / 2, total - 1: floor}
    for step, lr in expected.items():
        assert seen[step] == pytest.approx(lr, rel=1e-6), step
    assert all(a < b for a, b in zip(seen[:warmup], seen[1:warmup]))               # rises every step ...
    assert all(a > b for a, b in zip(seen[warmup:], seen[warmup + 1:]))            # ... then falls every step


def test_scale_lr_linear_multiplies_the_lr_by_the_global_batch_over_the_reference(run_exp, one_thread, caplog):
    # global batch = 32 per step x 2 accumulated = 64; reference 8: lr x 8
    with caplog.at_level(logging.INFO, logger="lab"):
        metrics = run_exp(["experiment=xor_mlp", "trainer.max_epochs=1", "test=false", "data.batch_size=32",
                           "trainer.accumulate_grad_batches=2", "model.optimizer.scale_lr=linear",
                           "model.optimizer.reference_batch=8", PROBE])
    seen = lrs(Path(metrics["run_dir"]))
    assert len(seen) == 8 and seen == pytest.approx([0.4] * 8)  # 256 examples / 32: 8 batches, 4 steps
    assert "lr scaled linearly: 0.05 x global batch 64 / reference batch 8 = 0.4" in caplog.text


def test_an_unknown_scale_lr_rule_is_refused_naming_the_key_and_the_choices(tmp_path):
    from lab.train import run_experiment

    with pytest.raises(LabError) as error:
        run_experiment(["experiment=xor_mlp", "logger=none", "model.optimizer.scale_lr=square"], tmp_path / "run")
    assert str(error.value) == ("model.optimizer.scale_lr='square' is not a rule; choose one of: linear, "
                                "null (no scaling)")
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_scale_lr_under_ddp_counts_every_rank_in_the_global_batch(tmp_path):
    # 2 gloo ranks x 8 per rank = global batch 16; reference 4: lr 0.05 x 4 on both ranks
    run_dir, launch = tmp_path / "ddp", tmp_path / "launch"
    launch.mkdir()
    command = [sys.executable, str(REPO / "scripts" / "train.py"), "experiment=xor_mlp", "trainer.max_epochs=1",
               "test=false", "logger=none", "trainer.enable_progress_bar=false", "trainer=ddp", "trainer.devices=2",
               "data.batch_size=8", "model.optimizer.scale_lr=linear", "model.optimizer.reference_batch=4", PROBE,
               f"hydra.run.dir={run_dir}"]
    result = subprocess.run(command, cwd=launch, env=env(MASTER_PORT=str(free_port())), capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    for rank in (0, 1):  # 128 examples per rank / 8: 16 steps
        assert lrs(run_dir, rank) == pytest.approx([0.2] * 16), rank
    output = result.stdout + result.stderr
    assert output.count("lr scaled linearly: 0.05 x global batch 16 / reference batch 4 = 0.2") == 1
    assert not math.isnan(json.loads((run_dir / "metrics.json").read_text())["train/loss_epoch"])


def test_the_large_batch_bench_runs_compose_with_the_recipe_on_the_8x_batch():
    from lab.bench import large_batch
    from lab.train import compose_config

    cfgs = [compose_config(large_batch.QUIET + overrides) for _, _, overrides in large_batch.cases(10)]
    assert [c.data.batch_size * c.trainer.devices for c in cfgs] == [64, 512, 512, 512, 512]
    assert [c.model.optimizer.scale_lr for c in cfgs] == [None, None, "linear", "linear", "linear"]
    assert [c.model.scheduler for c in cfgs[:3]] == [None] * 3 and cfgs[2].model.optimizer.reference_batch == 64
    assert cfgs[3].model.scheduler.warmup_steps == 16 and cfgs[3].model.scheduler.min_lr == 0.008
    assert cfgs[4].model.scheduler == cfgs[3].model.scheduler and cfgs[4].trainer.strategy == "ddp"


def test_scale_lr_without_a_reference_batch_is_refused_before_the_run_starts(tmp_path):
    from lab.train import run_experiment

    with pytest.raises(LabError, match=r"^model.optimizer.scale_lr=linear needs model.optimizer.reference_batch=N, "
                                       r"the global batch the lr was chosen for \(got None\)$"):
        run_experiment(["experiment=xor_mlp", "logger=none", "model.optimizer.scale_lr=linear"], tmp_path / "run")
    assert not (tmp_path / "run").exists()
