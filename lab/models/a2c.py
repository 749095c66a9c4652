"""Advantage actor-critic (synchronous A2C): one gradient step per short rollout on GAE advantages."""

from __future__ import annotations

import torch

from lab.models.actor_critic import ActorCritic
from lab.models.ppo import normalize
from lab.rl.advantages import gae


class A2C(ActorCritic):
    def targets(self, rewards, values, next_values, terminated, truncated):
        return gae(rewards, values, next_values, terminated, truncated, self.hparams.gamma, self.hparams.gae_lambda)

    def update(self, batch):
        hp = self.hparams
        logprob, entropy = self.log_prob_entropy(batch["obs"], batch["actions"])
        advantages = normalize(batch["advantages"]) if hp.norm_adv else batch["advantages"]
        policy_loss = -(advantages * logprob).mean()
        value_loss = 0.5 * (self.value(batch["obs"]) - batch["returns"]).square().mean()
        entropy = entropy.mean()
        loss = policy_loss - hp.ent_coef * entropy + hp.vf_coef * value_loss
        self.step_optimizer(loss)
        with torch.no_grad():
            log_ratio = self.log_prob_entropy(batch["obs"], batch["actions"])[0] - batch["logprobs"]
            approx_kl = ((log_ratio.exp() - 1) - log_ratio).mean()
        return {"loss": loss.detach(), "policy_loss": policy_loss.detach(), "value_loss": value_loss.detach(),
                "entropy": entropy.detach(), "approx_kl": approx_kl}
