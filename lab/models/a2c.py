"""Advantage actor-critic (synchronous A2C): one gradient step per short rollout on GAE advantages."""

from __future__ import annotations

import torch

from lab.models.actor_critic import ActorCritic
from lab.rl.advantages import gae


class A2C(ActorCritic):
    def targets(self, rewards, values, next_values, terminated, truncated):
        return gae(rewards, values, next_values, terminated, truncated, self.hparams.gamma, self.hparams.gae_lambda)

    def update(self, batch):
        metrics = self.policy_gradient_step(batch)
        with torch.no_grad():
            log_ratio = self.log_prob_entropy(batch["obs"], batch["actions"])[0] - batch["logprobs"]
            metrics["approx_kl"] = ((log_ratio.exp() - 1) - log_ratio).mean()
        return metrics
