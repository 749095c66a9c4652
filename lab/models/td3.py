"""TD3 (twin critics, target policy smoothing, delayed actor updates) and DDPG (TD3 with those three off).

Read top to bottom like CleanRL's td3_continuous_action.py; the defaults are SB3's. The actor outputs
a = tanh(mu(s)) in [-1, 1] (the env gets it scaled to [low, high]); exploration adds N(0, exploration_noise)
in that space (clipped to it), with uniform random actions before `learning_starts`. One gradient step:

    a'  = clip(mu_t(s') + clip(N(0, target_policy_noise), -target_noise_clip, target_noise_clip), -1, 1)
    y   = r + discount * (1 - terminated) * min(Q1_t, Q2_t)(s', a')       (DDPG: Q1_t alone, no noise)
    critic = sum_i MSE(Q_i(s, a), y)
    every `policy_delay` gradient steps also:
        actor = -mean Q1(s, mu(s))        (critic weights held fixed)
        targets: Q_t <- (1 - tau) Q_t + tau Q,  mu_t <- (1 - tau) mu_t + tau mu

The losses of a step are summed into one backward and one optimiser step (each reaches only its own parameters;
on the critic-only steps the actor has no gradient and Adam leaves it alone). Truncated episodes bootstrap.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from lab.errors import LabError
from lab.models.off_policy import OffPolicy, frozen_copy
from lab.rl.fast_forward import fast_forward, frozen_forward


def td3_target(rewards: torch.Tensor, terminated: torch.Tensor, discount: torch.Tensor | float,
               next_q1: torch.Tensor, next_q2: torch.Tensor | None) -> torch.Tensor:
    """y = r + discount * (1 - terminated) * min(Q1', Q2') (Q1' alone without a second critic)."""
    next_q = next_q1 if next_q2 is None else torch.min(next_q1, next_q2)
    return rewards + discount * (~terminated) * next_q


class TD3(OffPolicy):
    NAME, ACTION_SPACE = "TD3", "box"

    def __init__(self, *args, actor: Callable[..., nn.Module], critic: Callable[..., nn.Module], tau: float = 0.005,
                 policy_delay: int = 2, target_policy_noise: float = 0.2, target_noise_clip: float = 0.5,
                 twin_critics: bool = True, exploration_noise: float = 0.1, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.save_hyperparameters(ignore=["optimizer", "scheduler", "actor", "critic"], logger=False)
        dim = self.act_dim
        self.actor = actor(in_features=self.obs_dim, out_features=dim)
        self.critic1 = critic(in_features=self.obs_dim + dim, out_features=1)
        self.critic2 = critic(in_features=self.obs_dim + dim, out_features=1) if twin_critics else None
        self.actor_target, self.critic1_target = frozen_copy(self.actor), frozen_copy(self.critic1)
        self.critic2_target = frozen_copy(self.critic2) if twin_critics else None
        self._mu, self._mu_target = fast_forward(self.actor), fast_forward(self.actor_target)
        self._q1, self._q1_frozen, self._q1_target = (fast_forward(self.critic1), frozen_forward(self.critic1),
                                                      fast_forward(self.critic1_target))
        if twin_critics:
            self._q2, self._q2_target = fast_forward(self.critic2), fast_forward(self.critic2_target)
        self._pairs = [(self.actor_target, self.actor), (self.critic1_target, self.critic1)]
        if twin_critics:
            self._pairs.append((self.critic2_target, self.critic2))

    def on_fit_start(self) -> None:
        super().on_fit_start()
        ddp_kwargs = getattr(self.trainer.strategy, "_ddp_kwargs", None)
        if self.hparams.policy_delay > 1 and ddp_kwargs is not None and not ddp_kwargs.get("find_unused_parameters"):
            raise LabError(f"{self.NAME} with policy_delay={self.hparams.policy_delay} leaves the actor without a "
                           "gradient on the critic-only steps, which DDP must be told about: add "
                           "trainer.strategy=ddp_find_unused_parameters_true (or set model.policy_delay=1)")

    # ----- acting ------------------------------------------------------------------------------------------
    @torch.no_grad()
    def act(self, obs: torch.Tensor, deterministic: bool = False) -> torch.Tensor:
        """Env actions: tanh(mu(s)), plus exploration noise unless deterministic, scaled to the action bounds."""
        action = torch.tanh(self._mu(obs))
        if not deterministic:
            action = (action + self.hparams.exploration_noise * torch.randn_like(action)).clamp(-1.0, 1.0)
        return self.to_env(action)

    def explore(self, obs: torch.Tensor) -> torch.Tensor:
        if self.env_steps < self.hparams.learning_starts:
            return self.random_actions()
        action = torch.tanh(self._mu(obs))
        noise = torch.randn(action.shape, device=action.device, generator=self._generator)
        return (action + self.hparams.exploration_noise * noise).clamp(-1.0, 1.0)

    # ----- one gradient step -------------------------------------------------------------------------------
    def update(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        hp = self.hparams
        obs, actions = batch["obs"], batch["actions"]

        # critics: TD target from the target actor (smoothed) and the target critics
        with torch.no_grad():
            next_actions = torch.tanh(self._mu_target(batch["next_obs"]))
            if hp.target_policy_noise > 0:
                noise = (torch.randn_like(next_actions) * hp.target_policy_noise).clamp(-hp.target_noise_clip,
                                                                                         hp.target_noise_clip)
                next_actions = (next_actions + noise).clamp(-1.0, 1.0)
            next_in = torch.cat([batch["next_obs"], next_actions], -1)
            next_q2 = self._q2_target(next_in).squeeze(-1) if hp.twin_critics else None
            target = td3_target(batch["rewards"], batch["terminated"], batch["discount"],
                                self._q1_target(next_in).squeeze(-1), next_q2)
        q_in = torch.cat([obs, actions], -1)
        q1 = self._q1(q_in).squeeze(-1)
        critic_loss = F.mse_loss(q1, target)
        if hp.twin_critics:
            critic_loss = critic_loss + F.mse_loss(self._q2(q_in).squeeze(-1), target)

        # actor (delayed): maximise Q1(s, mu(s)) through fixed critic weights, on the gradient steps whose number
        # (what gradient_step returns: grad_steps + 1) is a multiple of policy_delay; its loss joins this step
        step = self.grad_steps + 1
        delayed = step % hp.policy_delay == 0
        loss = critic_loss
        if delayed:
            actor_loss = -self._q1_frozen(torch.cat([obs, torch.tanh(self._mu(obs))], -1)).mean()
            loss = loss + actor_loss
        self.gradient_step(loss)
        if delayed:
            self.update_targets(hp.tau, *self._pairs)
            self._last_actor_loss = actor_loss.detach()
        metrics = {"loss": critic_loss.detach(), "critic_loss": critic_loss.detach(), "q_mean": q1.detach().mean()}
        if hasattr(self, "_last_actor_loss"):
            metrics["actor_loss"] = self._last_actor_loss
        return metrics


class DDPG(TD3):
    """DDPG: one critic, no target policy smoothing, actor and targets updated every step (TD3's three off)."""

    NAME = "DDPG"

    def __init__(self, *args, policy_delay: int = 1, target_policy_noise: float = 0.0, twin_critics: bool = False,
                 **kwargs) -> None:
        super().__init__(*args, policy_delay=policy_delay, target_policy_noise=target_policy_noise,
                         twin_critics=twin_critics, **kwargs)
