"""Soft Actor-Critic: twin critics, a tanh-squashed Gaussian policy, automatic entropy temperature.

Read top to bottom like CleanRL's sac_continuous_action.py; the defaults are SB3's. The policy outputs mean and
log std (clamped to [-20, 2]) of u ~ N(mean, std); the action is a = tanh(u) in [-1, 1] (the env gets it scaled
to [low, high]) with log pi(a|s) = log N(u) - sum log(1 - tanh(u)^2) (the change-of-variables correction,
computed as 2 (log 2 - u - softplus(-2u)) for stability). One gradient step:

    a', log pi(a'|s')  ~ pi(.|s')
    y      = r + discount * (1 - terminated) * (min(Q1_t, Q2_t)(s', a') - alpha * log pi(a'|s'))
    critic = 1/2 sum_i MSE(Q_i(s, a), y)
    a~, log pi(a~|s) ~ pi(.|s)
    actor  = mean(alpha * log pi(a~|s) - min(Q1, Q2)(s, a~))      (critic weights held fixed)
    temperature (ent_coef="auto"): loss = -mean(log alpha * (log pi(a~|s) + target_entropy)), target -dim(A)

all three summed into one backward and one optimiser step (each loss reaches only its own parameters; so the
actor's loss sees the critics as they were before this step, where SB3 and CleanRL step the critics first), then,
every `target_update_interval` gradient steps, Q_t <- (1 - tau) Q_t + tau Q. Truncated episodes bootstrap.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from lab.models.off_policy import OffPolicy, frozen_copy
from lab.rl.fast_forward import fast_forward, frozen_forward

LOG_STD_MIN, LOG_STD_MAX = -20.0, 2.0
HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


def squashed_gaussian(mean: torch.Tensor, log_std: torch.Tensor, noise: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """a = tanh(mean + std * noise) and log pi(a) with the tanh correction, summed over action dims."""
    u = mean + log_std.exp() * noise
    log_prob = (-0.5 * noise.square() - log_std - HALF_LOG_2PI).sum(-1)
    log_prob = log_prob - (2.0 * (math.log(2.0) - u - F.softplus(-2.0 * u))).sum(-1)
    return torch.tanh(u), log_prob


def soft_q_target(rewards: torch.Tensor, terminated: torch.Tensor, discount: torch.Tensor | float,
                  next_q1: torch.Tensor, next_q2: torch.Tensor, next_log_prob: torch.Tensor,
                  alpha: torch.Tensor | float) -> torch.Tensor:
    """y = r + discount * (1 - terminated) * (min(Q1', Q2') - alpha * log pi(a'|s'))."""
    return rewards + discount * (~terminated) * (torch.min(next_q1, next_q2) - alpha * next_log_prob)


class SAC(OffPolicy):
    NAME, ACTION_SPACE = "SAC", "box"

    def __init__(self, *args, actor: Callable[..., nn.Module], critic: Callable[..., nn.Module], tau: float = 0.005,
                 ent_coef: float | str = "auto", init_ent_coef: float = 1.0, target_entropy: float | str = "auto",
                 target_update_interval: int = 1, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.save_hyperparameters(ignore=["optimizer", "scheduler", "actor", "critic"], logger=False)
        dim = self.act_dim
        self.actor = actor(in_features=self.obs_dim, out_features=2 * dim)  # mean and log std
        self.critic1 = critic(in_features=self.obs_dim + dim, out_features=1)
        self.critic2 = critic(in_features=self.obs_dim + dim, out_features=1)
        self.critic1_target, self.critic2_target = frozen_copy(self.critic1), frozen_copy(self.critic2)
        self.auto_alpha = ent_coef == "auto"
        alpha = init_ent_coef if self.auto_alpha else float(ent_coef)
        self.log_alpha = nn.Parameter(torch.tensor(math.log(alpha)), requires_grad=self.auto_alpha)
        self.target_entropy = -float(dim) if target_entropy == "auto" else float(target_entropy)
        self._actor = fast_forward(self.actor)
        self._q1, self._q2 = fast_forward(self.critic1), fast_forward(self.critic2)
        self._q1_frozen, self._q2_frozen = frozen_forward(self.critic1), frozen_forward(self.critic2)
        self._q1_target, self._q2_target = fast_forward(self.critic1_target), fast_forward(self.critic2_target)

    # ----- the policy --------------------------------------------------------------------------------------
    def policy(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean, log std) of the pre-tanh Gaussian."""
        mean, log_std = self._actor(obs).chunk(2, dim=-1)
        return mean, log_std.clamp(LOG_STD_MIN, LOG_STD_MAX)

    def sample(self, obs: torch.Tensor, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        mean, log_std = self.policy(obs)
        noise = torch.randn(mean.shape, device=mean.device, dtype=mean.dtype, generator=generator)
        return squashed_gaussian(mean, log_std, noise)

    @torch.no_grad()
    def act(self, obs: torch.Tensor, deterministic: bool = False) -> torch.Tensor:
        """Env actions: tanh(mean) (deterministic) or a sample, scaled to the action bounds."""
        action = torch.tanh(self.policy(obs)[0]) if deterministic else self.sample(obs)[0]
        return self.to_env(action)

    def explore(self, obs: torch.Tensor) -> torch.Tensor:
        if self.env_steps < self.hparams.learning_starts:
            return self.random_actions()
        return self.sample(obs, self._generator)[0]

    # ----- one gradient step -------------------------------------------------------------------------------
    def update(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        hp = self.hparams
        obs, actions = batch["obs"], batch["actions"]
        alpha = self.log_alpha.detach().exp()

        # critic: soft TD target from the target critics
        with torch.no_grad():
            next_actions, next_log_prob = self.sample(batch["next_obs"])
            next_in = torch.cat([batch["next_obs"], next_actions], -1)
            target = soft_q_target(batch["rewards"], batch["terminated"], batch["discount"],
                                   self._q1_target(next_in).squeeze(-1), self._q2_target(next_in).squeeze(-1),
                                   next_log_prob, alpha)
        q_in = torch.cat([obs, actions], -1)
        q1, q2 = self._q1(q_in).squeeze(-1), self._q2(q_in).squeeze(-1)
        critic_loss = 0.5 * (F.mse_loss(q1, target) + F.mse_loss(q2, target))

        # actor: maximise min Q - alpha log pi through fixed critic weights
        pi_actions, log_prob = self.sample(obs)
        pi_in = torch.cat([obs, pi_actions], -1)
        q_pi = torch.min(self._q1_frozen(pi_in), self._q2_frozen(pi_in)).squeeze(-1)
        actor_loss = (alpha * log_prob - q_pi).mean()

        # temperature: keep the policy's entropy near target_entropy
        loss = critic_loss + actor_loss
        if self.auto_alpha:
            alpha_loss = -(self.log_alpha * (log_prob.detach() + self.target_entropy)).mean()
            loss = loss + alpha_loss
        if self.gradient_step(loss) % hp.target_update_interval == 0:
            self.update_targets(hp.tau, (self.critic1_target, self.critic1), (self.critic2_target, self.critic2))
        return {"loss": critic_loss.detach(), "critic_loss": critic_loss.detach(), "actor_loss": actor_loss.detach(),
                "q_mean": q1.detach().mean(), "entropy": -log_prob.detach().mean(), "alpha": alpha}
