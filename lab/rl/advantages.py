"""Discounted returns and GAE(lambda) over (T, N) rollouts, as plain functions.

Conventions for step t of env n: `rewards[t]` follows the action at t; `next_values[t]` is V of the observation
after it (for a truncated episode: of its final observation); `terminated[t]` stops bootstrapping (the value
after a true end is 0); `truncated[t]` (time limit, or any reset) ends the episode without zeroing the bootstrap.
The last row bootstraps from `next_values[-1]`, so a rollout cut mid-episode is handled like a truncation.
"""

from __future__ import annotations

import torch


def _as_float(mask: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return mask.to(like.dtype)


def gae(rewards: torch.Tensor, values: torch.Tensor, next_values: torch.Tensor, terminated: torch.Tensor,
        truncated: torch.Tensor, gamma: float, lam: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimates and the returns they imply (advantages + values)."""
    alive = 1.0 - _as_float(terminated, rewards)
    cont = 1.0 - _as_float(terminated | truncated, rewards)
    deltas = rewards + gamma * next_values * alive - values
    advantages = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[0])
    for t in range(rewards.shape[0] - 1, -1, -1):
        running = deltas[t] + gamma * lam * cont[t] * running
        advantages[t] = running
    return advantages, advantages + values


def discounted_returns(rewards: torch.Tensor, next_values: torch.Tensor, terminated: torch.Tensor,
                       truncated: torch.Tensor, gamma: float) -> torch.Tensor:
    """Monte-Carlo discounted returns, bootstrapped from `next_values` where an episode is cut, 0 where it ends."""
    alive = 1.0 - _as_float(terminated, rewards)
    cont = 1.0 - _as_float(terminated | truncated, rewards)
    returns = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[0])
    for t in range(rewards.shape[0] - 1, -1, -1):
        bootstrap = next_values[t] * alive[t]
        following = running if t < rewards.shape[0] - 1 else bootstrap
        running = rewards[t] + gamma * (cont[t] * following + (1.0 - cont[t]) * bootstrap)
        returns[t] = running
    return returns


def normalize(x: torch.Tensor) -> torch.Tensor:
    """Advantages scaled to zero mean and unit standard deviation (per batch or minibatch)."""
    return (x - x.mean()) / (x.std() + 1e-8)
