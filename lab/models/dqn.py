"""Deep Q-learning: Double DQN by default, a dueling head as an option, Huber loss, hard or Polyak target updates.

Read top to bottom like CleanRL's dqn.py. Acting: epsilon-greedy, epsilon linear from `exploration_initial_eps`
to `exploration_final_eps` over the first `exploration_fraction * total_timesteps` env steps (a function of the
env steps done, as SB3's schedule), uniform random actions before `learning_starts`. One gradient step:

    a*  = argmax_a Q(s', a)                 (Double DQN; plain DQN: the target net's own max)
    y   = r + discount * (1 - terminated) * Q_target(s', a*)
    loss = Huber(Q(s, a) - y)

then, every `target_update_interval` gradient steps, Q_target <- (1 - tau) Q_target + tau Q (tau = 1: a copy).
Truncated episodes bootstrap (only `terminated` zeroes the tail). The scheduling of env and gradient steps
(`train_freq`, `gradient_steps`, `learning_starts`) and the buffer are `lab.models.off_policy.OffPolicy`'s.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from lab.errors import LabError
from lab.models.off_policy import OffPolicy, frozen_copy
from lab.rl.fast_forward import fast_forward


class DuelingQ(nn.Module):
    """Q(s, a) = V(s) + A(s, a) - mean_a A(s, a) on a shared trunk (Wang et al. 2016).

    The trunk is a Q-net with its output layer replaced by the identity (`without_output_layer`): the value and
    advantage heads read its last hidden layer's activations."""

    def __init__(self, trunk: nn.Module, width: int, num_actions: int) -> None:
        super().__init__()
        self.trunk = trunk
        self.value = nn.Linear(width, 1)
        self.advantage = nn.Linear(width, num_actions)

    @classmethod
    def from_net(cls, net: nn.Module, num_actions: int) -> "DuelingQ":
        width = without_output_layer(net)
        return cls(net, width, num_actions)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.trunk(x)
        advantage = self.advantage(h)
        return self.value(h) + advantage - advantage.mean(-1, keepdim=True)


def without_output_layer(net: nn.Module) -> int:
    """Replace `net`'s output Linear (`net.out`, as lab.nets.nature_cnn.NatureCNN, or the last of `net.layers`, as
    lab.nets.mlp.MLP) by the identity; return its input width, the net's last hidden width."""
    if isinstance(getattr(net, "out", None), nn.Linear):
        parent, name = net, "out"
    elif isinstance(getattr(net, "layers", None), nn.Sequential) and isinstance(net.layers[-1], nn.Linear):
        parent, name = net.layers, str(len(net.layers) - 1)
    else:
        raise LabError(f"model.dueling=true needs a q_net whose output layer is `out` or the last of `layers` "
                       f"(lab.nets.mlp.MLP, lab.nets.nature_cnn.NatureCNN); {type(net).__name__} has neither")
    width = getattr(parent, name).in_features
    setattr(parent, name, nn.Identity())
    return width


def double_dqn_target(rewards: torch.Tensor, terminated: torch.Tensor, discount: torch.Tensor | float,
                      next_q_online: torch.Tensor, next_q_target: torch.Tensor, double: bool = True) -> torch.Tensor:
    """y = r + discount * (1 - terminated) * Q_target(s', argmax_a Q_online(s', a)) (double=False: max_a Q_target)."""
    if double:
        next_q = next_q_target.gather(1, next_q_online.argmax(-1, keepdim=True)).squeeze(1)
    else:
        next_q = next_q_target.max(-1).values
    return rewards + discount * (~terminated) * next_q


class DQN(OffPolicy):
    NAME, ACTION_SPACE = "DQN", "discrete"

    def __init__(self, *args, q_net: Callable[..., nn.Module], double: bool = True, dueling: bool = False,
                 target_update_interval: int = 1, tau: float = 1.0, exploration_fraction: float = 0.1,
                 exploration_initial_eps: float = 1.0, exploration_final_eps: float = 0.05,
                 max_grad_norm: float | None = 10.0, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.save_hyperparameters(ignore=["optimizer", "scheduler", "q_net"], logger=False)
        n = int(self.action_space.n)
        self.q = q_net(in_features=tuple(self.observation_space.shape), out_features=n)
        if dueling:  # value and advantage heads in place of the net's output layer
            self.q = DuelingQ.from_net(self.q, n)
        self.q_target = frozen_copy(self.q)
        self._q = fast_forward(self.q)
        self._q_target = fast_forward(self.q_target)
        self.epsilon = exploration_initial_eps

    # ----- acting ------------------------------------------------------------------------------------------
    def epsilon_at(self, env_steps: int) -> float:
        """The exploration rate after `env_steps` env steps (all ranks)."""
        hp = self.hparams
        span = hp.exploration_fraction * hp.total_timesteps
        progress = min(1.0, env_steps / span) if span > 0 else 1.0
        return hp.exploration_initial_eps + progress * (hp.exploration_final_eps - hp.exploration_initial_eps)

    @torch.no_grad()
    def act(self, obs: torch.Tensor, deterministic: bool = False) -> torch.Tensor:
        """Greedy actions (deterministic) or epsilon-greedy with the final epsilon."""
        greedy = self._q(obs).argmax(-1)
        if deterministic:
            return greedy
        explore = torch.rand(greedy.shape, device=greedy.device) < self.hparams.exploration_final_eps
        return torch.where(explore, torch.randint_like(greedy, int(self.action_space.n)), greedy)

    def explore(self, obs: torch.Tensor) -> torch.Tensor:
        self.epsilon = self.epsilon_at(self.env_steps)
        if self.env_steps < self.hparams.learning_starts:
            return self.random_actions()
        coin = self._rng.random(self.hparams.num_envs) < self.epsilon
        if coin.all():  # no forward pass when every env explores
            return self.random_actions()
        # num_envs observations a step: no autocast (in bf16 every call would cast all the weights first, which
        # costs more than it saves at this batch size)
        with torch.autocast(obs.device.type, enabled=False):
            greedy = self._q(obs).argmax(-1)
        if coin.any():
            greedy = torch.where(torch.as_tensor(coin, device=greedy.device), self.random_actions(), greedy)
        return greedy

    # ----- one gradient step -------------------------------------------------------------------------------
    def td_target(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        with torch.no_grad():
            next_obs = batch["next_obs"]
            if self.hparams.double and hasattr(self.q, "prepare_input"):  # one input conversion for both nets
                next_obs = self.q.prepare_input(next_obs)
            next_q_target = self._q_target(next_obs)
            next_q_online = self._q(next_obs) if self.hparams.double else next_q_target
            return double_dqn_target(batch["rewards"], batch["terminated"], batch["discount"], next_q_online,
                                     next_q_target, self.hparams.double)

    def update(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        hp = self.hparams
        target = self.td_target(batch)
        q = self._q(batch["obs"]).gather(1, batch["actions"].unsqueeze(1)).squeeze(1)
        loss = F.smooth_l1_loss(q, target)
        if self.gradient_step(loss, hp.max_grad_norm) % hp.target_update_interval == 0:
            self.update_targets(hp.tau, (self.q_target, self.q))
        q = q.detach()
        return {"loss": loss.detach(), "q_mean": q.mean(), "td_error": (q - target).abs().mean()}

    # ----- bookkeeping ------------------------------------------------------------------------------------
    def epoch_metrics(self) -> dict[str, float]:
        metrics = super().epoch_metrics()
        metrics["train/epsilon"] = float(self.epsilon)  # the rate of the last env step
        return metrics

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        super().on_save_checkpoint(checkpoint)
        checkpoint["lab_off_policy"]["epsilon"] = float(self.epsilon)

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        super().on_load_checkpoint(checkpoint)
        self.epsilon = float(checkpoint.get("lab_off_policy", {}).get("epsilon", self.epsilon))
