"""An RL budget that cannot train is refused in one line naming the key; one too short to checkpoint is warned."""

from __future__ import annotations

import logging

import pytest

from lab.errors import LabError
from lab.train import run_experiment

QUIET = ["logger=none", "~callbacks.progress_bar", "trainer.enable_progress_bar=false"]


def test_an_off_policy_budget_within_learning_starts_is_refused(tmp_path):
    with pytest.raises(LabError) as error:
        run_experiment([*QUIET, "experiment=sac_halfcheetah", "model.total_timesteps=3000"], tmp_path / "run")
    assert str(error.value) == ("SAC: model.total_timesteps=3,000 is at or below model.learning_starts=10,000, so no "
                                "gradient step would be taken; raise model.total_timesteps or lower "
                                "model.learning_starts")
    assert not (tmp_path / "run").exists()  # refused before anything is written


def test_an_on_policy_budget_shorter_than_one_rollout_is_refused(tmp_path):
    with pytest.raises(LabError) as error:
        run_experiment([*QUIET, "experiment=ppo_cartpole", "model.total_timesteps=100"], tmp_path / "run")
    assert str(error.value) == ("PPO: model.total_timesteps=100 is shorter than one rollout (model.num_envs=16 x "
                                "model.num_steps=128 = 2,048 env steps); raise model.total_timesteps or lower "
                                "model.num_steps")


@pytest.mark.parametrize("every, warned", [(10, True), (2, False)])
def test_a_run_shorter_than_the_checkpoint_interval_is_warned(tmp_path, caplog, every, warned):
    overrides = [*QUIET, "experiment=ppo_cartpole", "model.num_envs=4", "model.num_steps=32",
                 "model.total_timesteps=384", "model.eval_every=0", "test=false",
                 f"callbacks.model_checkpoint.every_n_epochs={every}", "callbacks.model_checkpoint.monitor=train/loss"]
    with caplog.at_level(logging.WARNING, logger="lab"):
        run_experiment(overrides, tmp_path / "run")
    lines = [r.getMessage() for r in caplog.records if "no best checkpoint" in r.getMessage()]
    expected = ("the run has 3 epochs of 128 env steps (model.total_timesteps=384) and "
                "callbacks.model_checkpoint.every_n_epochs=10: no best checkpoint is written; lower "
                "callbacks.model_checkpoint.every_n_epochs or raise model.total_timesteps")
    assert lines == ([expected] if warned else [])
    assert bool(list((tmp_path / "run" / "checkpoints").glob("best-*.ckpt"))) is not warned
