"""Linear schedules over the env-step budget: PPO's lr and clip range, the off-policy agents' lr."""

from __future__ import annotations

import pytest
import torch

import lab.models.ppo as ppo_module
from lab.models.optim import anneal_lr

QUIET_RL = ["test=false", "model.eval_every=0", "callbacks.model_checkpoint=null"]


def test_anneal_lr_scales_from_the_initial_lr_and_keeps_a_floor():
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.5)
    anneal_lr(optimizer, 0.5)
    anneal_lr(optimizer, 0.25)  # from the initial lr, not from the last one
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.125)
    anneal_lr(optimizer, 0.0)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.5e-3)


def test_ppo_anneal_clip_shrinks_the_clip_range_with_the_lr(run_exp, monkeypatch):
    clips, lrs = [], []
    original = ppo_module.clipped_surrogate

    def spy(ratio, advantages, clip_coef):
        clips.append(clip_coef)
        return original(ratio, advantages, clip_coef)

    monkeypatch.setattr(ppo_module, "clipped_surrogate", spy)
    original_step = ppo_module.PPO.gradient_step

    def spy_step(self, loss, max_grad_norm=None):
        lrs.append(self.optimizers().optimizer.param_groups[0]["lr"])
        return original_step(self, loss, max_grad_norm)

    monkeypatch.setattr(ppo_module.PPO, "gradient_step", spy_step)
    # 3 rollouts of 4 envs x 64 steps; each update runs after its rollout: 1 - 256 k / 768 of the range remains
    run_exp(["experiment=ppo_cartpole", *QUIET_RL, "model.num_envs=4", "model.num_steps=64", "model.num_minibatches=2",
             "model.update_epochs=1", "model.total_timesteps=768", "model.anneal_clip=true", "model.clip_coef=0.3",
             "model.optimizer.lr=0.01", "model.stop_on_solve=false"])
    assert clips == pytest.approx([0.2, 0.2, 0.1, 0.1, 0.0, 0.0])
    assert lrs == pytest.approx([0.01 * 2 / 3] * 2 + [0.01 / 3] * 2 + [1e-5] * 2)


def test_off_policy_anneal_lr_is_set_once_an_epoch_by_the_env_steps_done(run_exp, monkeypatch):
    from lab.models.dqn import DQN

    lrs = []
    original = DQN.update

    def spy(self, batch):
        lrs.append(self._optimizer.optimizer.param_groups[0]["lr"])
        return original(self, batch)

    monkeypatch.setattr(DQN, "update", spy)
    # epochs of 256 env steps start at 0, 256, 512, 768 of 1,024; gradient steps from env step 201 on (1 per 4 steps)
    metrics = run_exp(["experiment=dqn_cartpole", *QUIET_RL, "model.q_net.hidden=[16]", "model.n_step=1",
                       "model.train_freq=4", "model.gradient_steps=1", "model.learning_starts=200",
                       "model.steps_per_epoch=256", "model.total_timesteps=1024", "model.anneal_lr=true",
                       "model.optimizer.lr=0.004", "model.stop_on_solve=false"])
    assert metrics["train/grad_steps"] == len(lrs) == (1024 - 200) // 4
    assert sorted(set(lrs), reverse=True) == pytest.approx([0.004, 0.003, 0.002, 0.001])
    assert lrs.count(0.004) == (256 - 200) // 4 and lrs.count(0.001) == 256 // 4
