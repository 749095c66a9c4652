"""The base of the actor-critic family: collects rollouts and steps the optimiser; subclasses update.

What every RL agent shares (envs, episode tracking, evaluation, the solve clock, per-epoch logging, checkpointed
counters) is `lab.models.rl_base.RLModule`; the off-policy agents (`lab.models.off_policy`) build on it too.

An epoch = one rollout (collected when Lightning asks its DataLoader for the epoch's only batch) + `update(batch)`,
the algorithm's optimisation passes in `training_step` (manual optimisation: PPO takes several minibatch steps
per rollout, so `trainer.global_step` counts optimiser steps). Under DDP each rank steps its own envs seeded
`seed + global_rank * num_envs`. Subclasses implement `targets` (advantages and returns of a rollout) and `update`.

Metrics are logged once per epoch (one `log_dict` in `on_train_epoch_end`, plain floats): Lightning's per-key
logging cost is paid per rollout, not per optimiser step. Solved = the periodic deterministic evaluation
(`eval_every` epochs, `eval_episodes` episodes) averages >= the threshold: `time/solve_seconds` is the training
wall time until then (evaluation time excluded) and `perf/solve_env_steps` the env steps.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from lab.errors import LabError
from lab.models.optim import anneal_lr, configure_optimizers, step_schedulers
from lab.models.rl_base import EVAL_SEED_OFFSET, RLModule  # noqa: F401  (EVAL_SEED_OFFSET: re-exported)
from lab.nets.init import orthogonal_init
from lab.rl.advantages import normalize
from lab.rl.fast_forward import fast_forward
from lab.rl.heads import make_head
from lab.rl.normalize import ObsNormalizer, RewardScaler
from lab.rl.rollout import Rollout, RolloutDataset, collect_rollout


def _last_linear(net: nn.Module) -> nn.Linear:
    return [m for m in net.modules() if isinstance(m, nn.Linear)][-1]


class ActorCritic(RLModule):
    """`torso` (optional, e.g. lab.nets.nature_cnn.NatureTorso for pixels): a feature net shared by the actor and
    the critic, which then take its `out_features` features; without one they read the observations."""

    def __init__(self, env_id: str, actor: Callable[..., nn.Module], critic: Callable[..., nn.Module],
                 optimizer: Callable, scheduler: Callable | None = None, torso: Callable[..., nn.Module] | None = None,
                 seed: int = 0, num_envs: int = 8,
                 num_steps: int = 128, total_timesteps: int = 100_000, gamma: float = 0.99, gae_lambda: float = 0.95,
                 ent_coef: float = 0.0, vf_coef: float = 0.5, max_grad_norm: float | None = 0.5,
                 norm_adv: bool = True, anneal_lr: bool = True, normalize_obs: bool = False,
                 normalize_reward: bool = False, init_log_std: float = 0.0, ortho_init: bool = True,
                 env_kwargs: dict | None = None, eval_episodes: int = 20, eval_every: int = 0,
                 stop_on_solve: bool = False, solved_threshold: float | None = None, stats_window: int = 20,
                 num_threads: int | None = None) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["actor", "critic", "optimizer", "scheduler", "torso"], logger=False)
        self.automatic_optimization = False
        self.optimizer, self.scheduler = optimizer, scheduler
        if total_timesteps < num_envs * num_steps:
            raise LabError(f"{type(self).__name__}: model.total_timesteps={total_timesteps:,} is shorter than one "
                           f"rollout (model.num_envs={num_envs} x model.num_steps={num_steps} = "
                           f"{num_envs * num_steps:,} env steps); raise model.total_timesteps or lower model.num_steps")
        observation_space, action_space = self.init_rl()  # env probe, counters, solved threshold (RLModule)
        obs_shape = observation_space.shape
        self.head = make_head(action_space, init_log_std)
        self.torso = torso(in_features=tuple(obs_shape)) if torso is not None else None
        features = self.torso.out_features if self.torso is not None else int(np.prod(obs_shape))
        self.actor = actor(in_features=features, out_features=self.head.num_outputs)
        self.critic = critic(in_features=features, out_features=1)
        if ortho_init:
            orthogonal_init(self.actor, _last_linear(self.actor), 0.01)
            orthogonal_init(self.critic, _last_linear(self.critic), 1.0)
        self.obs_norm = ObsNormalizer(obs_shape, normalize_obs)
        self._fast_actor = fast_forward(self.actor)
        self.reward_scaler = RewardScaler(num_envs, gamma, normalize_reward)
        self._update_metrics: dict[str, torch.Tensor] = {}

    # ----- acting -----------------------------------------------------------------------------------------
    # `policy_out`, `value` and `log_prob_entropy` take network inputs: observations already normalised (by
    # `obs_norm`, with the statistics in force when the policy acted on them; see `_to_batch`). `act` takes raw ones.
    def features(self, obs: torch.Tensor) -> torch.Tensor:
        return self.torso(obs) if self.torso is not None else obs

    def policy_out(self, obs: torch.Tensor) -> torch.Tensor:
        return self.actor(self.features(obs))

    def value(self, obs: torch.Tensor) -> torch.Tensor:
        return self.critic(self.features(obs)).squeeze(-1)

    def policy_and_value(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The actor's output and the value, with one pass of a shared torso."""
        features = self.features(obs)
        return self.actor(features), self.critic(features).squeeze(-1)

    @torch.no_grad()
    def act(self, obs: torch.Tensor, deterministic: bool = False) -> torch.Tensor:
        """Actions for raw observations (N, *obs_shape), normalised with the current statistics."""
        if self.obs_norm.enabled:
            obs = self.obs_norm(obs)
        return self.head.sample(self._fast_actor(self.features(obs)), deterministic)

    def log_prob_entropy(self, obs: torch.Tensor, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.head.log_prob_entropy(self.policy_out(obs), actions)

    # ----- rollouts (RLModule.on_fit_start has made this rank's envs) ------------------------------------------
    def env_steps_per_epoch(self) -> int:
        return self.hparams.num_envs * self.hparams.num_steps * self.world_size

    def train_dataloader(self) -> DataLoader:
        return DataLoader(RolloutDataset(self._next_batch), batch_size=None, num_workers=0)

    def targets(self, rewards: torch.Tensor, values: torch.Tensor, next_values: torch.Tensor,
                terminated: torch.Tensor, truncated: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(advantages, returns) of a (T, N) rollout; each algorithm says how."""
        raise NotImplementedError

    @torch.no_grad()
    def _next_batch(self) -> dict[str, torch.Tensor]:
        self.eval()
        rollout = collect_rollout(self.env, self.act, self._obs, self.hparams.num_steps, self.tracker)
        self._obs = rollout.next_obs
        batch = self._to_batch(rollout)  # normalises with the statistics the policy acted with ...
        self.obs_norm.update(rollout.obs[rollout.valid])  # ... and only then are they updated (as SB3, CleanRL)
        self.train()
        self.env_steps += rollout.env_steps * self.trainer.world_size
        self.count_episodes(rollout.episode_returns, rollout.episode_lengths)
        return batch

    def _to_batch(self, rollout: Rollout) -> dict[str, torch.Tensor]:
        """Values, bootstraps, advantages and returns of a rollout, flattened to its valid transitions.

        The batch's "obs" are normalised here, once, with the statistics the policy acted with (they are updated
        after this), so the update's first ratio pi_new / pi_old is exactly 1."""
        t, n = rollout.rewards.shape
        norm = self.obs_norm
        obs = norm(rollout.obs.reshape(t * n, *rollout.obs.shape[2:]))
        actions = rollout.actions.reshape(t * n, *rollout.actions.shape[2:])
        policy_out, values = self.policy_and_value(obs)
        values = values.reshape(t, n)
        next_values = torch.cat([values[1:], self.value(norm(rollout.next_obs))[None]])
        if rollout.final_obs is not None and rollout.truncated.any():
            cut = rollout.truncated
            next_values[cut] = self.value(norm(rollout.final_obs[cut]))
        done = rollout.terminated | rollout.truncated
        rewards = self.reward_scaler(rollout.rewards, done, rollout.valid)
        advantages, returns = self.targets(rewards, values, next_values, rollout.terminated, rollout.truncated)
        logprobs, _ = self.head.log_prob_entropy(policy_out, actions)
        keep = rollout.valid.reshape(-1)
        return {"obs": obs[keep], "actions": actions[keep], "logprobs": logprobs[keep], "values": values.reshape(-1)[keep],
                "advantages": advantages.reshape(-1)[keep], "returns": returns.reshape(-1)[keep]}

    # ----- optimisation -------------------------------------------------------------------------------------
    def update(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The algorithm's optimisation passes over one rollout (each step through `gradient_step`); returns the
        metrics to log (incl. "loss")."""
        raise NotImplementedError

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        self._optimizer = self.optimizers()
        if self.hparams.anneal_lr and self.scheduler is None:  # a scheduler, when given, sets the lr instead
            anneal_lr(self._optimizer, self.remaining_fraction())
        metrics = self.update(batch)
        if self.scheduler is not None:  # manual optimisation: per-step schedulers step in gradient_step
            step_schedulers(self, "epoch")  # an epoch is one rollout
        metrics["explained_variance"] = explained_variance(batch["values"], batch["returns"])
        self._update_metrics = metrics  # logged in on_train_epoch_end
        return metrics["loss"]

    def policy_gradient_step(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """One step on -A log pi(a|s) + vf_coef * value error - ent_coef * entropy over the whole rollout
        (REINFORCE with baseline and A2C differ only in how `targets` estimates A)."""
        hp = self.hparams
        logprob, entropy = self.log_prob_entropy(batch["obs"], batch["actions"])
        advantages = normalize(batch["advantages"]) if hp.norm_adv else batch["advantages"]
        policy_loss = -(advantages * logprob).mean()
        value_loss = 0.5 * (self.value(batch["obs"]) - batch["returns"]).square().mean()
        entropy = entropy.mean()
        loss = policy_loss - hp.ent_coef * entropy + hp.vf_coef * value_loss
        self.gradient_step(loss, hp.max_grad_norm)
        return {"loss": loss.detach(), "policy_loss": policy_loss.detach(), "value_loss": value_loss.detach(),
                "entropy": entropy.detach()}

    def updates_per_rollout(self) -> int:
        """Optimiser steps per rollout (PPO: passes x minibatches)."""
        return 1

    def configure_optimizers(self):
        return configure_optimizers(self, self.optimizer, self.scheduler,
                                    total_steps=self.planned_epochs * self.updates_per_rollout())

    # ----- bookkeeping (RLModule.on_train_epoch_end logs these with returns, rates, the periodic eval) --------
    PROG_BAR = ("train/return_mean", "train/policy_loss", "train/entropy", "perf/env_steps_per_sec", "eval/return_mean")

    def epoch_metrics(self) -> dict[str, float]:
        update = self._update_metrics
        metrics = dict(zip((f"train/{k}" for k in update), torch.stack([v.float() for v in update.values()]).tolist()))
        metrics["train/lr"] = self.optimizers().optimizer.param_groups[0]["lr"]  # after this epoch's scheduler step
        return metrics


def explained_variance(predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """1 - Var[target - predicted] / Var[target]: 1 is a perfect critic, 0 no better than a constant."""
    var = target.var()
    return torch.where(var > 0, 1 - (target - predicted).var() / var, torch.zeros_like(var))
