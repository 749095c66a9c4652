"""What every RL agent of the lab shares, on-policy (`ActorCritic`) and off-policy (`OffPolicy`) alike.

- the env: a probe at construction (spaces, the solved threshold), then this rank's `VecEnv` in `on_fit_start`,
  seeded `seed + global_rank * num_envs` so DDP ranks step different envs;
- episode tracking (`EpisodeTracker`), the counters (`env_steps` over all ranks, `episodes`), and the last
  `stats_window` finished episodes behind `train/return_mean` and `train/episode_length`;
- once per epoch one `log_dict` (plain floats; Lightning's per-key cost is paid per epoch, not per step): the
  algorithm's own metrics (`epoch_metrics`), return and length, env and gradient steps per second;
- the solve clock: the periodic deterministic evaluation (`eval_every` epochs, `eval_episodes` episodes) that
  averages >= the threshold sets `time/solve_seconds` (training wall time until then, evaluation excluded) and
  `perf/solve_env_steps`; `stop_on_solve` ends the run there;
- `evaluate(episodes, deterministic, seed)` and `act(obs, deterministic)`, which `lab-evaluate` calls, and the
  test stage (a deterministic evaluation -> eval/return_mean);
- `gradient_step(loss)`, the one optimiser step of every algorithm, which counts `grad_steps`;
- the counters in the checkpoint (primitives only: checkpoints are read with `weights_only=True`).

A subclass calls `init_rl()` after `save_hyperparameters` and implements `act`, `epoch_metrics` and
`env_steps_per_epoch` (global env steps one epoch adds, for `planned_epochs`).
"""

from __future__ import annotations

import logging
import math
import time
from collections import deque

import numpy as np
import pytorch_lightning as pl
import torch
from gymnasium import spaces
from pytorch_lightning.callbacks import ModelCheckpoint
from torch.utils.data import DataLoader

from lab.errors import LabError
from lab.models.optim import step_schedulers
from lab.rl.evaluate import run_episodes
from lab.rl.rollout import EpisodeTracker
from lab.rl.vec import VecEnv
from lab.rl.rates import global_rate

log = logging.getLogger("lab")

EVAL_SEED_OFFSET = 1_000_003

# which algorithms fit which action space (the message of a mismatch)
FITTING = {"discrete": "dqn, ppo, a2c or reinforce", "box": "sac, td3, ddpg or ppo"}


def check_action_space(algorithm: str, needs: str, env_id: str, space: spaces.Space) -> None:
    """A LabError naming the algorithms that fit when `space` is not the kind (`discrete` / `box`) `algorithm` needs."""
    if needs == "discrete" and isinstance(space, spaces.Discrete):
        return
    if needs == "box" and isinstance(space, spaces.Box) and len(space.shape) == 1:
        return
    kind = "a Discrete" if needs == "discrete" else "a continuous (1-D Box)"
    other = "box" if isinstance(space, spaces.Box) else "discrete"
    raise LabError(f"{algorithm} needs {kind} action space; {env_id} has {space}: use {FITTING[other]}")


def drop_duplicate_keys(state: dict | None, own: dict) -> None:
    """Remove from a checkpoint's state dict the keys of private attributes the module does not have: checkpoints
    written while a fast forward could be the net itself held such nets twice (`_q.*` beside `q.*`)."""
    if state is None:
        return
    for key in [k for k in state if k.startswith("_") and k not in own]:
        del state[key]


class RLModule(pl.LightningModule):
    """Base of the lab's RL agents. hparams read here: env_id, env_kwargs, seed, num_envs, total_timesteps,
    eval_episodes, eval_every, stop_on_solve, solved_threshold, stats_window, num_threads."""

    PROG_BAR = ("train/return_mean", "perf/env_steps_per_sec", "eval/return_mean")
    # games whose training episodes are lives with clipped rewards (Atari): the raw game score and frames/s instead
    GAME_PROG_BAR = ("train/game_score", "perf/frames_per_sec", "eval/return_mean")

    def init_rl(self) -> tuple[spaces.Space, spaces.Space]:
        """Probe the env (spaces, solved threshold) and zero the counters; returns (observation, action) spaces."""
        hp = self.hparams
        probe = VecEnv(hp.env_id, 1, env_kwargs=hp.env_kwargs)
        observation_space, action_space = probe.single_observation_space, probe.single_action_space
        self.solved_threshold = hp.solved_threshold if hp.solved_threshold is not None else probe.reward_threshold
        probe.close()
        self.env: VecEnv | None = None
        self._obs: torch.Tensor | None = None
        self.env_steps = 0
        self.episodes = 0
        self.recent_returns: deque = deque(maxlen=hp.stats_window)
        self.recent_lengths: deque = deque(maxlen=hp.stats_window)
        self.recent_games: deque = deque(maxlen=hp.stats_window)  # raw game scores (Atari)
        self.solve_seconds: float | None = None
        self.solve_env_steps: int | None = None
        self.grad_steps = 0  # optimiser steps taken by `gradient_step` (= trainer.global_step)
        self._optimizer = None  # the step's optimiser, set by training_step
        self._train_seconds = 0.0
        self._epoch_mark = time.perf_counter()
        return observation_space, action_space

    # ----- what a subclass says ---------------------------------------------------------------------------
    @torch.no_grad()
    def act(self, obs: torch.Tensor, deterministic: bool = False) -> torch.Tensor:
        """Env actions for raw observations (N, *obs_shape)."""
        raise NotImplementedError

    def epoch_metrics(self) -> dict[str, float]:
        """The algorithm's own metrics of the epoch that just ended (keys with their `train/` prefix)."""
        return {}

    def env_steps_per_epoch(self) -> int:
        """Env steps (all ranks) one epoch adds."""
        raise NotImplementedError

    def remaining_fraction(self) -> float:
        """1 - env steps done / total_timesteps: the factor of linearly annealed schedules (lr, PPO's clip)."""
        return max(0.0, 1.0 - self.env_steps / self.hparams.total_timesteps)

    @property
    def world_size(self) -> int:
        trainer = self._trainer
        return trainer.world_size if trainer is not None else 1

    @property
    def planned_epochs(self) -> int:
        """How many epochs `total_timesteps` takes (a progress bar's total)."""
        return max(1, math.ceil(self.hparams.total_timesteps / self.env_steps_per_epoch()))

    # ----- envs -------------------------------------------------------------------------------------------
    def setup(self, stage: str) -> None:
        if self.hparams.num_threads:
            self._caller_threads = torch.get_num_threads()
            torch.set_num_threads(self.hparams.num_threads)

    def teardown(self, stage: str) -> None:
        """Give the caller (a notebook, a sweep's next trial) back the thread count it had."""
        threads = self.__dict__.pop("_caller_threads", None)
        if threads is not None:
            torch.set_num_threads(threads)

    def rank_seed(self) -> int:
        return self.hparams.seed + self.global_rank * self.hparams.num_envs

    def start_envs(self) -> None:
        """This rank's envs, reset; episode tracking from scratch (a resumed run starts new episodes)."""
        self.env = VecEnv(self.hparams.env_id, self.hparams.num_envs, seed=self.rank_seed(), device=self.device,
                          env_kwargs=self.hparams.env_kwargs)
        self._obs = self.env.reset().to(self.device)
        self.tracker = EpisodeTracker(self.hparams.num_envs, self.device)
        self._epoch_mark = time.perf_counter()

    def on_fit_start(self) -> None:  # before Lightning fetches the first batch
        self.warn_if_no_best_checkpoint()
        self.start_envs()
        self._trainable = [p for p in self.parameters() if p.requires_grad]
        self._scaled_grads = getattr(self.trainer.precision_plugin, "scaler", None) is not None

    def warn_if_no_best_checkpoint(self) -> None:
        """One warning line when the epochs left end before a checkpoint callback's first `every_n_epochs` save."""
        epochs, done = self.planned_epochs, self.current_epoch
        for callback in self.trainer.checkpoint_callbacks:
            if not isinstance(callback, ModelCheckpoint):
                continue
            every = callback.every_n_epochs or 0
            if callback.monitor and every > 1 and epochs // every == done // every and self.trainer.is_global_zero:
                log.warning("the run has %d epochs of %s env steps (model.total_timesteps=%s) and "
                            "callbacks.model_checkpoint.every_n_epochs=%d: no best checkpoint is written; lower "
                            "callbacks.model_checkpoint.every_n_epochs or raise model.total_timesteps", epochs,
                            f"{self.env_steps_per_epoch():,}", f"{self.hparams.total_timesteps:,}", every)

    def clip_grad_norm(self, optimizer, max_norm: float) -> None:
        """Clip the gradients' global norm. With fp16's GradScaler Lightning must unscale them first; otherwise
        (fp32, bf16) torch clips them directly: the same clip without Lightning's dispatch (~0.1 ms a step on a
        CPU), and it works with fused optimisers, which Lightning's mixed-precision clipping refuses."""
        if self._scaled_grads:
            self.clip_gradients(optimizer, gradient_clip_val=max_norm, gradient_clip_algorithm="norm")
        else:
            torch.nn.utils.clip_grad_norm_(self._trainable, max_norm, foreach=True)

    def gradient_step(self, loss: torch.Tensor, max_grad_norm: float | None = None) -> int:
        """One gradient step: zero_grad, backward (precision- and DDP-aware), clip by norm, optimiser step.

        Returns the new gradient-step count, so the step just taken is number n (from 1); "every k gradient steps"
        means the steps whose n is a multiple of k, in every algorithm."""
        optimizer = self._optimizer
        optimizer.zero_grad()
        self.manual_backward(loss)
        if max_grad_norm:
            self.clip_grad_norm(optimizer, max_grad_norm)
        optimizer.step()
        if getattr(self, "scheduler", None) is not None:
            step_schedulers(self, "step")
        self.grad_steps += 1
        return self.grad_steps

    def on_fit_end(self) -> None:
        if self.env is not None:
            self.env.close()
            self.env = None

    def count_episodes(self, returns: torch.Tensor, lengths: torch.Tensor) -> None:
        """Record the episodes that finished (returns and lengths of this rank's envs)."""
        self.episodes += len(returns)
        self.recent_returns.extend(returns.tolist())
        self.recent_lengths.extend(lengths.tolist())

    # ----- bookkeeping ------------------------------------------------------------------------------------
    def on_train_epoch_end(self) -> None:
        self._train_seconds += time.perf_counter() - self._epoch_mark
        metrics = self.epoch_metrics()
        if self.recent_returns:
            metrics["train/return_mean"] = float(np.mean(self.recent_returns))
            metrics["train/episode_length"] = float(np.mean(self.recent_lengths))
        metrics["train/env_steps"] = float(self.env_steps)
        metrics["train/episodes"] = float(self.episodes)
        seconds = max(self._train_seconds, 1e-9)
        local_rate = self.env_steps / self.world_size / seconds
        metrics["perf/rank_env_steps_per_sec"] = local_rate  # this rank's own envs
        metrics["perf/env_steps_per_sec"] = global_rate(self, local_rate)  # summed over DDP ranks
        metrics["perf/grad_steps_per_sec"] = self.trainer.global_step / seconds  # ranks step together
        prog_bar = self.PROG_BAR
        if self.env is not None and self.env.game_scores is not None:
            scores = self.env.game_scores
            self.recent_games.extend(scores)
            scores.clear()
            if self.recent_games:
                metrics["train/game_score"] = float(np.mean(self.recent_games))
            metrics["perf/frames_per_sec"] = metrics["perf/env_steps_per_sec"] * self.env.frame_skip
            prog_bar = self.GAME_PROG_BAR
        every = self.hparams.eval_every
        if every and (self.current_epoch + 1) % every == 0:
            metrics.update(self._periodic_eval())
        if self.solve_seconds is not None:
            metrics["time/solve_seconds"] = self.solve_seconds
            metrics["perf/solve_env_steps"] = float(self.solve_env_steps)
        bar = {k: v for k, v in metrics.items() if k in prog_bar}
        self.log_dict(bar, prog_bar=True, on_step=False, on_epoch=True, batch_size=1)
        self.log_dict({k: v for k, v in metrics.items() if k not in bar}, on_step=False, on_epoch=True, batch_size=1)
        if self.env_steps >= self.hparams.total_timesteps:
            self.trainer.should_stop = True
        self._epoch_mark = time.perf_counter()

    def _periodic_eval(self) -> dict[str, float]:
        """The deterministic evaluation that defines "solved" (its time is not training time)."""
        returns, _ = self.evaluate(self.hparams.eval_episodes)
        if (self.solve_seconds is None and self.solved_threshold is not None
                and returns.mean() >= self.solved_threshold - 1e-6):
            self.solve_seconds, self.solve_env_steps = self._train_seconds, self.env_steps
            if self.hparams.stop_on_solve:
                self.trainer.should_stop = True
            if self.trainer.is_global_zero:
                then = "stopping (model.stop_on_solve)" if self.hparams.stop_on_solve else "training on"
                log.info("solved at %s env steps, %.1f s: eval/return_mean %.4g >= %.4g; %s", f"{self.env_steps:,}",
                         self.solve_seconds, returns.mean(), self.solved_threshold, then)
        return {"eval/return_mean": float(returns.mean()), "eval/return_std": float(returns.std())}

    def evaluate(self, episodes: int, deterministic: bool = True, seed: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Returns and lengths of `episodes` fresh episodes (eval seeds differ from training seeds)."""
        was_training = self.training
        self.eval()
        seed = self.hparams.seed + EVAL_SEED_OFFSET if seed is None else seed
        result = run_episodes(self.hparams.env_id, lambda obs: self.act(obs, deterministic), episodes, seed,
                              device=self.device, env_kwargs=self.hparams.env_kwargs)
        self.train(was_training)
        return result

    # ----- test = deterministic evaluation ------------------------------------------------------------------
    def test_dataloader(self) -> DataLoader:
        return DataLoader([0], batch_size=None)

    def test_step(self, batch, batch_idx: int) -> None:
        returns, lengths = self.evaluate(self.hparams.eval_episodes)
        self.log("eval/return_mean", float(returns.mean()), batch_size=1)
        self.log("eval/return_std", float(returns.std()), batch_size=1)
        self.log("eval/episode_length", float(lengths.mean()), batch_size=1)

    # ----- checkpoint extras (primitives only) -----------------------------------------------------------
    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["lab_rl"] = {"env_steps": int(self.env_steps), "episodes": int(self.episodes),
                                "grad_steps": int(self.grad_steps),
                                "train_seconds": float(self._train_seconds),
                                "solve_seconds": self.solve_seconds, "solve_env_steps": self.solve_env_steps,
                                "recent_returns": [float(x) for x in self.recent_returns],
                                "recent_lengths": [int(x) for x in self.recent_lengths],
                                "recent_games": [float(x) for x in self.recent_games]}

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        drop_duplicate_keys(checkpoint.get("state_dict"), self.state_dict())
        state = checkpoint.get("lab_rl", {})
        self.env_steps = int(state.get("env_steps", 0))
        self.episodes = int(state.get("episodes", 0))
        older = checkpoint.get("lab_off_policy", {}).get("grad_steps", checkpoint.get("global_step", 0))
        self.grad_steps = int(state.get("grad_steps", older))
        self._train_seconds = float(state.get("train_seconds", 0.0))
        self.solve_seconds, self.solve_env_steps = state.get("solve_seconds"), state.get("solve_env_steps")
        self.recent_returns.extend(state.get("recent_returns", []))
        self.recent_lengths.extend(state.get("recent_lengths", []))
        self.recent_games.extend(state.get("recent_games", []))
