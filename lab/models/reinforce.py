"""REINFORCE with a learned baseline: Monte-Carlo discounted returns G_t, policy gradient on G_t - V(s_t).

Episodes cut by the rollout's end (or a time limit) are bootstrapped from the critic, so rollouts of any length work.
"""

from __future__ import annotations


from lab.models.actor_critic import ActorCritic
from lab.models.ppo import normalize
from lab.rl.advantages import discounted_returns


class Reinforce(ActorCritic):
    def targets(self, rewards, values, next_values, terminated, truncated):
        returns = discounted_returns(rewards, next_values, terminated, truncated, self.hparams.gamma)
        return returns - values, returns

    def update(self, batch):
        hp = self.hparams
        logprob, entropy = self.log_prob_entropy(batch["obs"], batch["actions"])
        advantages = normalize(batch["advantages"]) if hp.norm_adv else batch["advantages"]
        policy_loss = -(advantages * logprob).mean()
        value_loss = 0.5 * (self.value(batch["obs"]) - batch["returns"]).square().mean()
        entropy = entropy.mean()
        loss = policy_loss - hp.ent_coef * entropy + hp.vf_coef * value_loss
        self.step_optimizer(loss)
        return {"loss": loss.detach(), "policy_loss": policy_loss.detach(), "value_loss": value_loss.detach(),
                "entropy": entropy.detach()}
