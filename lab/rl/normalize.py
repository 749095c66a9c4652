"""Optional observation and reward normalisation, with statistics kept in buffers (they travel in checkpoints)."""

from __future__ import annotations

import torch
from torch import nn


class RunningMeanStd(nn.Module):
    """Running mean and variance over the leading dimension (parallel-variance update)."""

    def __init__(self, shape: tuple[int, ...] = (), epsilon: float = 1e-4) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(shape))
        self.register_buffer("var", torch.ones(shape))
        self.register_buffer("count", torch.tensor(epsilon))

    @torch.no_grad()
    def update(self, x: torch.Tensor) -> None:
        x = x.reshape(-1, *self.mean.shape).to(self.mean.dtype)
        batch_mean, batch_var, n = x.mean(0), x.var(0, unbiased=False), x.shape[0]
        delta, total = batch_mean - self.mean, self.count + n
        self.mean += delta * n / total
        self.var.copy_((self.var * self.count + batch_var * n + delta.square() * self.count * n / total) / total)
        self.count.copy_(total)


class ObsNormalizer(nn.Module):
    """(obs - mean) / std clipped to +-clip; identity when disabled."""

    def __init__(self, shape: tuple[int, ...], enabled: bool, clip: float = 10.0) -> None:
        super().__init__()
        self.enabled, self.clip = enabled, clip
        self.stats = RunningMeanStd(shape)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        if not self.enabled:
            return obs
        return ((obs - self.stats.mean) / torch.sqrt(self.stats.var + 1e-8)).clamp(-self.clip, self.clip)

    def update(self, obs: torch.Tensor) -> None:
        if self.enabled:
            self.stats.update(obs)


class RewardScaler(nn.Module):
    """Divides rewards by the running std of the discounted return (as SB3's VecNormalize); identity when disabled."""

    def __init__(self, num_envs: int, gamma: float, enabled: bool, clip: float = 10.0) -> None:
        super().__init__()
        self.enabled, self.gamma, self.clip = enabled, gamma, clip
        self.stats = RunningMeanStd(())
        self.register_buffer("running_return", torch.zeros(num_envs), persistent=False)

    @torch.no_grad()
    def forward(self, rewards: torch.Tensor, dones: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        """Scale (T, N) rewards, updating the statistics with this rollout's discounted returns (only at `valid`
        steps: the reset step of a next-step autoreset is no transition, and its 0 return would bias the std)."""
        if not self.enabled:
            return rewards
        returns = torch.empty_like(rewards)
        running = self.running_return.to(rewards.device)
        for t in range(rewards.shape[0]):
            running = running * self.gamma + rewards[t]
            returns[t] = running
            running = running * (~dones[t])
        self.running_return = running
        self.stats.update(returns.reshape(-1) if valid is None else returns[valid])
        return (rewards / torch.sqrt(self.stats.var + 1e-8)).clamp(-self.clip, self.clip)
