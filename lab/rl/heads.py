"""Policy heads: turn an actor net's output into actions, log-probabilities and entropies without torch.distributions.

`CategoricalHead` for Discrete action spaces (the net outputs logits), `DiagGaussianHead` for Box spaces (the net
outputs means; a state-independent log std is a parameter of the head). `make_head` picks one or raises a LabError.
"""

from __future__ import annotations

import math

import torch
from gymnasium import spaces
from torch import nn

from lab.errors import LabError


class CategoricalHead(nn.Module):
    def __init__(self, n: int) -> None:
        super().__init__()
        self.num_outputs = n

    def sample(self, logits: torch.Tensor, deterministic: bool = False) -> torch.Tensor:
        if deterministic:
            return logits.argmax(-1)
        # Gumbel-max: argmax(logits + G) with G = -log(E), E ~ Exp(1), is a sample of softmax(logits)
        return (logits - torch.empty_like(logits).exponential_().log_()).argmax(-1)

    def log_prob_entropy(self, logits: torch.Tensor, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        log_p = torch.log_softmax(logits, -1)
        entropy = -(log_p.exp() * log_p).sum(-1)
        return log_p.gather(-1, actions.long().unsqueeze(-1)).squeeze(-1), entropy


class DiagGaussianHead(nn.Module):
    def __init__(self, dim: int, init_log_std: float = 0.0) -> None:
        super().__init__()
        self.num_outputs = dim
        self.log_std = nn.Parameter(torch.full((dim,), float(init_log_std)))

    def sample(self, mean: torch.Tensor, deterministic: bool = False) -> torch.Tensor:
        if deterministic:
            return mean
        return mean + self.log_std.exp() * torch.randn_like(mean)

    def log_prob_entropy(self, mean: torch.Tensor, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        log_std = self.log_std.expand_as(mean)
        z = (actions - mean) / log_std.exp()
        log_prob = (-0.5 * z.square() - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)
        entropy = (log_std + 0.5 * (1.0 + math.log(2 * math.pi))).sum(-1)
        return log_prob, entropy


def make_head(action_space: spaces.Space, init_log_std: float = 0.0) -> CategoricalHead | DiagGaussianHead:
    """The head for `action_space`: Discrete -> categorical, 1-D Box -> diagonal Gaussian."""
    if isinstance(action_space, spaces.Discrete):
        return CategoricalHead(int(action_space.n))
    if isinstance(action_space, spaces.Box) and len(action_space.shape) == 1:
        return DiagGaussianHead(action_space.shape[0], init_log_std)
    raise LabError(f"action space {action_space} is not supported by the lab's policy heads; "
                   "use an env with a Discrete or a 1-D Box action space (or flatten it with a gymnasium wrapper)")
