"""Proximal Policy Optimisation (clipped surrogate), read top to bottom like CleanRL's ppo.py.

Per rollout: GAE(lambda) advantages; `update_epochs` passes over shuffled minibatches with advantage
normalisation per minibatch, the clipped policy objective, optionally clipped value loss, an entropy bonus,
gradient clipping by norm; stop the passes early when the approximate KL exceeds `target_kl`. `anneal_clip`
shrinks the clip range linearly to 0 over `total_timesteps`, as SB3's `clip_range=lin_...` schedules do.
"""

from __future__ import annotations

import torch

from lab.models.actor_critic import ActorCritic
from lab.rl.advantages import gae, normalize


def clipped_surrogate(ratio: torch.Tensor, advantages: torch.Tensor, clip_coef: float) -> torch.Tensor:
    """PPO's policy loss: the mean of max(-A r, -A clip(r, 1-eps, 1+eps))."""
    return torch.max(-advantages * ratio, -advantages * ratio.clamp(1 - clip_coef, 1 + clip_coef)).mean()


class PPO(ActorCritic):
    def __init__(self, *args, clip_coef: float = 0.2, clip_vloss: bool = True, update_epochs: int = 4,
                 num_minibatches: int = 4, target_kl: float | None = None, anneal_clip: bool = False,
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.save_hyperparameters(ignore=["actor", "critic", "optimizer", "scheduler", "torso"], logger=False)
        self.updates_done = 0  # optimiser steps in the last update (tests read it)

    def updates_per_rollout(self) -> int:
        return self.hparams.update_epochs * self.hparams.num_minibatches

    def targets(self, rewards, values, next_values, terminated, truncated):
        return gae(rewards, values, next_values, terminated, truncated, self.hparams.gamma, self.hparams.gae_lambda)

    def update(self, batch):
        hp = self.hparams
        n = batch["obs"].shape[0]
        minibatch = max(1, n // hp.num_minibatches)
        self.updates_done = 0
        clip_fractions, approx_kl = [], torch.zeros(())
        clip = hp.clip_coef * (self.remaining_fraction() if hp.anneal_clip else 1.0)
        for _ in range(hp.update_epochs):
            order = torch.randperm(n, device=batch["obs"].device)
            for start in range(0, n - minibatch + 1, minibatch):
                mb = {key: value[order[start:start + minibatch]] for key, value in batch.items()}
                policy_out, new_value = self.policy_and_value(mb["obs"])
                new_logprob, entropy = self.head.log_prob_entropy(policy_out, mb["actions"])
                log_ratio = new_logprob - mb["logprobs"]
                ratio = log_ratio.exp()
                with torch.no_grad():
                    approx_kl = ((ratio - 1) - log_ratio).mean()
                    clip_fractions.append(((ratio - 1.0).abs() > clip).float().mean())

                advantages = mb["advantages"]
                if hp.norm_adv:
                    advantages = normalize(advantages)
                policy_loss = clipped_surrogate(ratio, advantages, clip)

                returns = mb["returns"]
                if hp.clip_vloss:
                    old_value = mb["values"]
                    clipped = old_value + (new_value - old_value).clamp(-clip, clip)
                    value_loss = 0.5 * torch.max((new_value - returns).square(), (clipped - returns).square()).mean()
                else:
                    value_loss = 0.5 * (new_value - returns).square().mean()

                entropy = entropy.mean()
                loss = policy_loss - hp.ent_coef * entropy + hp.vf_coef * value_loss
                self.gradient_step(loss, hp.max_grad_norm)
                self.updates_done += 1
            if hp.target_kl is not None and approx_kl > hp.target_kl:
                break
        return {"loss": loss.detach(), "policy_loss": policy_loss.detach(), "value_loss": value_loss.detach(),
                "entropy": entropy.detach(), "approx_kl": approx_kl, "clip_fraction": torch.stack(clip_fractions).mean()}
