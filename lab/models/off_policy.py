"""The base of the off-policy agents (DQN, TD3/DDPG, SAC): env steps into a replay buffer, gradient steps out of it.

One Lightning epoch = one `training_step` = a block of cycles; a cycle = `train_freq` vector steps of this rank's
`num_envs` envs (every transition into the buffer), then, once more than `learning_starts` env steps are done,
`gradient_steps` gradient steps (-1: one per env step of the cycle) on uniform samples of the buffer. This is
SB3's schedule (`train_freq` counts vector steps, as there), so RL-Zoo hyperparameters mean what they say; an
epoch holds `steps_per_epoch` env steps (rounded to whole cycles) so that Lightning's per-epoch costs and the
metric logging are paid per block, not per step. Each gradient step is one optimiser step (one optimiser, the
algorithm's nets in it, one backward of the summed losses), so `trainer.global_step` counts gradient steps.

Counters: `env_steps` counts all ranks' env steps (DDP ranks step together, so every rank takes the same
gradient steps); actions are random while `env_steps < learning_starts` (as SB3); the run ends at
`total_timesteps`, the last epoch cut to the cycles that reach it. Under DDP each rank has its own envs, buffer
and generators (seeded `seed + global_rank * num_envs`); gradients are averaged by DDP as for any module
(TD3 leaves the actor out of its critic-only steps, so it asks for `trainer.strategy=ddp_find_unused_parameters_true`).

Checkpoints hold the target nets (in the state dict), every counter, and the replay buffer (`save_replay_buffer`,
skipped with a warning above `replay_checkpoint_max_mb`): a resumed run goes on with the same buffer, schedules
and targets; its envs start new episodes. `anneal_lr` decays the lr linearly to 0 over `total_timesteps`, set at the
start of each epoch (SB3's `learning_rate=lin_...`).
"""

from __future__ import annotations

import logging
import math
from typing import Callable

import numpy as np
import torch
from gymnasium import spaces
from torch import nn
from torch.utils.data import DataLoader

from lab.errors import LabError
from lab.models.optim import anneal_lr, configure_optimizers
from lab.models.rl_base import RLModule, check_action_space
from lab.rl.frame_replay import FrameStackReplay
from lab.rl.replay import ReplayBuffer
from lab.rl.rollout import RolloutDataset
from lab.rl.vec import as_tensor, stack_tensor

log = logging.getLogger("lab")


@torch.no_grad()
def polyak(targets: list[torch.Tensor], onlines: list[torch.Tensor], tau: float) -> None:
    """target <- (1 - tau) target + tau online, parameter by parameter (tau = 1: a hard copy)."""
    if tau >= 1.0:
        torch._foreach_copy_(targets, onlines)
    else:
        torch._foreach_lerp_(targets, onlines, tau)


def frozen_copy(net: nn.Module) -> nn.Module:
    """A target network: a copy of `net` that no optimiser updates."""
    import copy

    return copy.deepcopy(net).requires_grad_(False)


class OffPolicy(RLModule):
    NAME = "off-policy"      # in error messages
    ACTION_SPACE = "box"     # "discrete" or "box": what the algorithm can act in

    def __init__(self, env_id: str, optimizer, seed: int = 0, num_envs: int = 1, total_timesteps: int = 100_000,
                 buffer_size: int = 1_000_000, batch_size: int = 256, learning_starts: int = 100, train_freq: int = 1,
                 gradient_steps: int = 1, steps_per_epoch: int = 1000, gamma: float = 0.99, n_step: int = 1,
                 env_kwargs: dict | None = None, eval_episodes: int = 20, eval_every: int = 0,
                 stop_on_solve: bool = False, solved_threshold: float | None = None, stats_window: int = 20,
                 num_threads: int | None = None, save_replay_buffer: bool = True,
                 replay_checkpoint_max_mb: float = 1024.0, anneal_lr: bool = False,
                 scheduler: Callable | None = None) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["optimizer", "scheduler", "q_net", "actor", "critic"], logger=False)
        self.automatic_optimization = False
        self.optimizer, self.scheduler = optimizer, scheduler
        if train_freq < 1 or steps_per_epoch < 1 or gradient_steps < -1 or learning_starts < 0 or n_step < 1:
            raise LabError(f"{self.NAME}: model.train_freq, model.steps_per_epoch and model.n_step must be >= 1, "
                           f"model.gradient_steps >= -1 (-1 = one per env step) and model.learning_starts >= 0; got "
                           f"{train_freq}, {steps_per_epoch}, {n_step}, {gradient_steps} and {learning_starts}")
        if total_timesteps <= learning_starts:
            raise LabError(f"{self.NAME}: model.total_timesteps={total_timesteps:,} is at or below "
                           f"model.learning_starts={learning_starts:,}, so no gradient step would be taken; raise "
                           "model.total_timesteps or lower model.learning_starts")
        self.observation_space, self.action_space = self.init_rl()
        check_action_space(self.NAME, self.ACTION_SPACE, env_id, self.action_space)
        self.obs_dim = int(np.prod(self.observation_space.shape))
        if isinstance(self.action_space, spaces.Box):  # the nets act in [-1, 1]; the env gets [low, high]
            self.act_dim = int(self.action_space.shape[0])
            for name, bound in (("action_low", self.action_space.low), ("action_high", self.action_space.high)):
                self.register_buffer(name, torch.as_tensor(bound, dtype=torch.float32), persistent=False)
        self.replay: ReplayBuffer | None = None
        self._replay_state: dict | None = None  # a checkpoint's buffer, until the buffer exists
        self.target_updates = 0
        self._step_metrics: list[dict[str, torch.Tensor]] = []

    # ----- the schedule ----------------------------------------------------------------------------------
    def cycle_env_steps(self) -> int:
        """Env steps (all ranks) of one cycle."""
        return self.hparams.train_freq * self.hparams.num_envs * self.world_size

    def cycles_per_epoch(self) -> int:
        hp = self.hparams
        return max(1, round(hp.steps_per_epoch / (hp.train_freq * hp.num_envs)))

    def env_steps_per_epoch(self) -> int:
        return self.cycles_per_epoch() * self.cycle_env_steps()

    def grad_steps_per_cycle(self) -> int:
        hp = self.hparams
        return hp.gradient_steps if hp.gradient_steps >= 0 else hp.train_freq * hp.num_envs

    # ----- acting ------------------------------------------------------------------------------------------
    def to_env(self, actions: torch.Tensor) -> torch.Tensor:
        """Buffer actions -> env actions ([-1, 1] -> [low, high] for Box spaces)."""
        if self.ACTION_SPACE == "box":
            return self.action_low + (actions + 1.0) * 0.5 * (self.action_high - self.action_low)
        return actions

    def random_actions(self) -> torch.Tensor:
        """Uniform actions for this rank's envs (before `learning_starts`), in buffer space."""
        n = self.hparams.num_envs
        if self.ACTION_SPACE == "box":
            uniform = self._rng.uniform(-1.0, 1.0, (n, self.act_dim))
            return torch.as_tensor(uniform, dtype=torch.float32, device=self.device)
        return torch.as_tensor(self._rng.integers(0, self.action_space.n, n), device=self.device)

    def explore(self, obs: torch.Tensor) -> torch.Tensor:
        """Training actions (buffer space) for observations (N, *obs); each algorithm says how."""
        raise NotImplementedError

    # ----- envs and buffer ------------------------------------------------------------------------------
    def start_envs(self) -> None:
        super().start_envs()
        hp = self.hparams
        self._rng = np.random.default_rng(self.rank_seed())
        self._generator = torch.Generator(device=self.device)
        self._generator.manual_seed(self.rank_seed())
        self._prev_done = np.zeros(hp.num_envs, dtype=bool)
        self._block: list = []
        if self.replay is None:
            discrete = self.ACTION_SPACE == "discrete"
            action_shape = () if discrete else (self.act_dim,)
            # stacked uint8 frames (Atari): each frame stored once, stacks rebuilt at sample time
            buffer = FrameStackReplay if self.env.obs_dtype == torch.uint8 else ReplayBuffer
            self.replay = buffer(hp.buffer_size, self.observation_space.shape, action_shape,
                                 torch.int64 if discrete else torch.float32, self.device, hp.num_envs,
                                 hp.n_step, hp.gamma, obs_dtype=self.env.obs_dtype)
        if self._replay_state is not None:
            self.replay.load_state_dict(self._replay_state)
            self._replay_state = None
        self.replay.drop_pending()

    @torch.no_grad()
    def collect(self, vector_steps: int) -> None:
        """Step this rank's envs `vector_steps` times with `explore`; every transition goes into the buffer.

        With next-step autoreset the step after a done only resets the env: not a transition, not stored. The
        stored next_obs is the true next observation, the final one of a finished episode (bootstrapped from
        unless terminated)."""
        env, obs, replay = self.env, self._obs, self.replay
        world_steps = self.hparams.num_envs * self.world_size
        for _ in range(vector_steps):
            actions = self.explore(obs)
            next_obs, reward, terminated, truncated, final_obs = env.step(self.to_env(actions))
            if env.same_step:
                valid = None
                replay.add(obs, actions, reward, next_obs if final_obs is None else final_obs, terminated, truncated)
            else:
                valid = ~self._prev_done
                replay.add(obs, actions, reward, next_obs, terminated, truncated, valid)
            self._prev_done = terminated | truncated
            self._block.append((reward, terminated, truncated, valid))
            obs = as_tensor(next_obs, self.device, env.obs_dtype)
            self.env_steps += world_steps
        self._obs = obs

    def finish_block(self) -> None:
        """Episode returns and lengths of the block's steps (whole tensors, once per epoch)."""
        if not self._block:
            return
        rewards, terminated, truncated, valid = zip(*self._block)
        self._block = []
        device = self.device
        terminated = stack_tensor(list(terminated), device, torch.bool)
        truncated = stack_tensor(list(truncated), device, torch.bool)
        done = terminated | truncated
        if valid[0] is None:
            valid = torch.ones_like(done)
        else:
            valid = stack_tensor(list(valid), device, torch.bool)
        rewards = stack_tensor(list(rewards), device, torch.float32) * valid
        self.env.check_finite(self._obs)
        self.count_episodes(*self.tracker.finish(rewards, valid, done))

    # ----- one epoch --------------------------------------------------------------------------------------
    def train_dataloader(self) -> DataLoader:
        # one item per epoch (the block is made in training_step, where gradient steps may be taken)
        return DataLoader(RolloutDataset(lambda: torch.zeros(1)), batch_size=None, num_workers=0)

    def training_step(self, batch, batch_idx: int) -> torch.Tensor | None:
        hp = self.hparams
        self._optimizer = self.optimizers()
        if hp.anneal_lr and self.scheduler is None:  # once per epoch, by the env steps done before it
            anneal_lr(self._optimizer, self.remaining_fraction())
        remaining = hp.total_timesteps - self.env_steps
        cycles = min(self.cycles_per_epoch(), max(1, math.ceil(remaining / self.cycle_env_steps())))
        self._block = []
        for _ in range(cycles):
            self.collect(hp.train_freq)
            if self.env_steps > hp.learning_starts:
                for _ in range(self.grad_steps_per_cycle()):
                    self._step_metrics.append(self.update(self.replay.sample(hp.batch_size, self._generator)))
        self.finish_block()
        return self._step_metrics[-1]["loss"] if self._step_metrics else None

    def update(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """One gradient step on a sampled batch; returns detached metrics (incl. "loss"). Calls `gradient_step`."""
        raise NotImplementedError

    def update_targets(self, tau: float, *pairs: tuple[nn.Module, nn.Module]) -> None:
        """One target update: every (target, online) pair moves by tau (one foreach call over all of them)."""
        polyak([p for t, _ in pairs for p in t.parameters()], [p for _, o in pairs for p in o.parameters()], tau)
        self.target_updates += 1

    def configure_optimizers(self):
        hp = self.hparams  # per-step schedules run over the gradient steps after learning_starts
        cycles = math.ceil(max(0, hp.total_timesteps - hp.learning_starts) / self.cycle_env_steps())
        return configure_optimizers(self, self.optimizer, self.scheduler,
                                    total_steps=max(1, cycles * self.grad_steps_per_cycle()))

    # ----- bookkeeping ------------------------------------------------------------------------------------
    def epoch_metrics(self) -> dict[str, float]:
        metrics: dict[str, float] = {}
        if self._step_metrics:
            keys = list(dict.fromkeys(k for m in self._step_metrics for k in m))
            steps = self._step_metrics
            means = torch.stack([torch.stack([m[k].float() for m in steps if k in m]).mean() for k in keys])
            metrics.update(zip((f"train/{k}" for k in keys), means.tolist()))
            self._step_metrics = []
        metrics["train/grad_steps"] = float(self.grad_steps)
        metrics["train/target_updates"] = float(self.target_updates)
        metrics["train/buffer_size"] = float(len(self.replay))
        metrics["train/buffer_fill"] = len(self.replay) / self.replay.capacity
        return metrics

    # ----- checkpoint extras -----------------------------------------------------------------------------
    def on_save_checkpoint(self, checkpoint: dict) -> None:
        super().on_save_checkpoint(checkpoint)
        checkpoint["lab_off_policy"] = {"target_updates": int(self.target_updates)}
        hp = self.hparams
        if not hp.save_replay_buffer or self.replay is None:
            return
        megabytes = self.replay.nbytes / 2**20
        if megabytes > hp.replay_checkpoint_max_mb:
            if not getattr(self, "_warned_size", False):
                log.warning("the replay buffer (%.0f MB) is over model.replay_checkpoint_max_mb=%s: checkpoints are "
                            "saved without it (a resumed run refills it)", megabytes, hp.replay_checkpoint_max_mb)
                self._warned_size = True
            return
        checkpoint["lab_replay"] = self.replay.state_dict()

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        super().on_load_checkpoint(checkpoint)
        state = checkpoint.get("lab_off_policy", {})
        self.target_updates = int(state.get("target_updates", 0))
        # the buffer matters to a run that fits on (Lightning restores before on_fit_start, which makes the buffer;
        # some strategies restore after it); a test stage or `lab-evaluate` does not need it
        replay = checkpoint.get("lab_replay")
        trainer = self._trainer
        if replay is None or trainer is None or trainer.state.fn != "fit":
            return
        if self.replay is not None:
            self.replay.load_state_dict(replay)
        else:
            self._replay_state = replay
