"""REINFORCE with a learned baseline: Monte-Carlo discounted returns G_t, policy gradient on G_t - V(s_t).

Episodes cut by the rollout's end (or a time limit) are bootstrapped from the critic, so rollouts of any length work.
"""

from __future__ import annotations

from lab.models.actor_critic import ActorCritic
from lab.rl.advantages import discounted_returns


class Reinforce(ActorCritic):
    def targets(self, rewards, values, next_values, terminated, truncated):
        returns = discounted_returns(rewards, next_values, terminated, truncated, self.hparams.gamma)
        return returns - values, returns

    def update(self, batch):
        return self.policy_gradient_step(batch)
