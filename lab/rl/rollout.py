"""Collect a fixed-length rollout from a VecEnv, and hand rollouts to Lightning through an IterableDataset.

The per-step loop only acts and steps; masks for next-step autoreset, episode returns and lengths are computed
afterwards on whole (T, N) tensors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch.utils.data import IterableDataset

from lab.rl.vec import VecEnv, as_tensor, stack_tensor


@dataclass
class Rollout:
    obs: torch.Tensor              # (T, N, *obs) raw observations the policy acted on
    actions: torch.Tensor          # (T, N, *act)
    rewards: torch.Tensor          # (T, N), 0 where not valid
    terminated: torch.Tensor       # (T, N) bool
    truncated: torch.Tensor        # (T, N) bool
    valid: torch.Tensor            # (T, N) bool: False for next-step-autoreset steps (not transitions)
    final_obs: torch.Tensor | None  # (T, N, *obs), meaningful where done, for same-step envs; else None
    next_obs: torch.Tensor         # (N, *obs) the observation after the last step
    episode_returns: torch.Tensor  # (E,) returns of the episodes that finished during the rollout
    episode_lengths: torch.Tensor  # (E,)

    @property
    def env_steps(self) -> int:
        return self.rewards.numel()


class EpisodeTracker:
    """Carries unfinished episodes' returns and lengths (and the last done flags) from one rollout to the next."""

    def __init__(self, num_envs: int, device: torch.device) -> None:
        self.returns = torch.zeros(num_envs, device=device)
        self.lengths = torch.zeros(num_envs, dtype=torch.int64, device=device)
        self.last_done = torch.zeros(num_envs, dtype=torch.bool, device=device)

    def valid_mask(self, done: torch.Tensor, next_step_autoreset: bool) -> torch.Tensor:
        """Next-step autoreset: the step after a done only resets, so it is not a transition."""
        if not next_step_autoreset:
            return torch.ones_like(done)
        return ~torch.cat([self.last_done[None], done[:-1]])

    def finish(self, rewards: torch.Tensor, valid: torch.Tensor, done: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns and lengths of the episodes ending in this (T, N) rollout, vectorised over time."""
        t_len = rewards.shape[0]
        steps = torch.arange(t_len, device=rewards.device)[:, None].expand_as(rewards)
        starts_here = torch.cat([torch.zeros_like(done[:1]), done[:-1]])
        start = torch.where(starts_here, steps, torch.zeros_like(steps)).cummax(0).values
        cum_r = torch.cat([torch.zeros_like(rewards[:1]), rewards.cumsum(0)])
        cum_n = torch.cat([torch.zeros_like(steps[:1]), valid.long().cumsum(0)])
        carried = start == 0
        ep_return = cum_r[1:] - cum_r.gather(0, start) + torch.where(carried, self.returns, 0.0)
        ep_length = cum_n[1:] - cum_n.gather(0, start) + torch.where(carried, self.lengths, 0)
        self.returns = torch.where(done[-1], 0.0, ep_return[-1])
        self.lengths = torch.where(done[-1], 0, ep_length[-1])
        self.last_done = done[-1]
        return ep_return[done], ep_length[done]


@torch.no_grad()
def collect_rollout(env: VecEnv, act: Callable[[torch.Tensor], torch.Tensor], obs: torch.Tensor,
                    num_steps: int, tracker: EpisodeTracker) -> Rollout:
    """Step `env` `num_steps` times from `obs` with actions `act(obs)`; no Python loop over envs."""
    device = obs.device
    obs_list, act_list, rew_list, term_list, trunc_list, final_list = [], [], [], [], [], []
    for _ in range(num_steps):
        obs_list.append(obs)
        action = act(obs)
        act_list.append(action)
        next_obs, reward, terminated, truncated, final_obs = env.step(action)
        rew_list.append(reward)
        term_list.append(terminated)
        trunc_list.append(truncated)
        if env.same_step:
            final_list.append(next_obs if final_obs is None else final_obs)
        obs = as_tensor(next_obs, device, env.obs_dtype)
    terminated, truncated = stack_tensor(term_list, device, torch.bool), stack_tensor(trunc_list, device, torch.bool)
    done = terminated | truncated
    valid = tracker.valid_mask(done, not env.same_step)
    rewards = stack_tensor(rew_list, device, torch.float32) * valid
    final_obs = stack_tensor(final_list, device, env.obs_dtype) if env.same_step else None
    observations = torch.stack(obs_list)
    env.check_finite(obs)
    env.check_finite(observations)
    episode_returns, episode_lengths = tracker.finish(rewards, valid, done)
    return Rollout(observations, torch.stack(act_list), rewards, terminated, truncated, valid, final_obs, obs,
                   episode_returns, episode_lengths)


class RolloutDataset(IterableDataset):
    """Each iteration (= one Lightning epoch) yields one batch: `produce()`, a fresh rollout made into tensors."""

    def __init__(self, produce: Callable[[], dict]) -> None:
        self.produce = produce

    def __iter__(self):
        yield self.produce()
