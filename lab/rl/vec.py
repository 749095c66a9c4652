"""Any gymnasium vector env (native, sync, or the lab's torch-batched ones) behind one torch interface.

`VecEnv` uses the fastest vectorisation the env offers (`gymnasium.make_vec`'s default: the env's own vector
entry point when it has one, e.g. CartPole's native numpy env or the lab's torch CartPole, else sync). Autoreset modes differ:
- same-step (the lab's torch envs): the obs returned with `done` is already the reset one; the final obs is
  `info["final_obs"]` (bootstrapping on truncation needs it);
- next-step (gymnasium 1.x default): the obs returned with `done` is the final one, and the step after it only
  resets: its reward and action are not a transition. `lab.rl.rollout` masks those steps out.
`VecEnv.step` does as little as possible per step (the hot loop); the rollout post-processes whole tensors.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from gymnasium.vector import AutoresetMode

import envs  # noqa: F401  (registers the lab/ ids)
from lab.errors import LabError
from lab.rl.atari import AtariVec, is_atari, register_ale
from lab.rl.mujoco_log import install as quiet_mujoco, is_mujoco


def env_spec(env_id: str) -> gym.envs.registration.EnvSpec:
    """The registered spec of `env_id`; an unknown id is a LabError that lists the lab's own ids. Atari ids
    (`BreakoutNoFrameskip-v4`, `ALE/Pong-v5`) are registered from ale-py when first asked for."""
    if env_id not in gym.registry and ("NoFrameskip" in env_id or env_id.startswith("ALE/")):
        try:
            register_ale()
        except ImportError as error:
            raise LabError(f"{env_id} is an Atari id, which needs ale-py: "
                           f"pip install ale-py ({error})") from None
    try:
        return gym.spec(env_id)
    except gym.error.Error as error:
        known = sorted(k for k in gym.registry if k.startswith("lab/"))
        raise LabError(f"unknown env id {env_id!r} ({error}); use a registered gymnasium id such as "
                       f"'CartPole-v1', 'Pendulum-v1', 'Acrobot-v1', or one of the lab's: {', '.join(known)}") from None


def as_tensor(value, device: torch.device, dtype: torch.dtype | None = None) -> torch.Tensor:
    """numpy array or tensor -> tensor on `device` (no copy when it is already there)."""
    tensor = torch.from_numpy(value) if isinstance(value, np.ndarray) else torch.as_tensor(value)
    if dtype is not None and tensor.dtype != dtype:
        tensor = tensor.to(dtype)
    return tensor if tensor.device == device else tensor.to(device)


def to_numpy(value) -> np.ndarray:
    """Tensor (any device; bf16/fp16 as float32) or array-like -> numpy array."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu()
        return (value.float() if value.dtype in (torch.bfloat16, torch.float16) else value).numpy()
    return np.asarray(value)


def stack_tensor(items: list, device: torch.device, dtype: torch.dtype | None = None) -> torch.Tensor:
    """A list of per-step tensors or arrays (one kind) -> one stacked tensor on `device`."""
    if isinstance(items[0], torch.Tensor):
        return as_tensor(torch.stack(items), device, dtype)
    return as_tensor(np.stack(items), device, dtype)


class VecEnv:
    """`num_envs` copies of `env_id`, seeded `seed, seed+1, ...`; observations and actions as tensors on `device`.

    Observations are float32, or uint8 where the env's observation space is uint8 (pixels: the network divides by
    255). Atari ids run on ale-py's vector env with the standard preprocessing (`lab.rl.atari.AtariVec`):
    `train=True` clips rewards and ends an episode at a lost life, `train=False` plays full games for raw scores;
    `game_scores` then holds the raw scores of the games that ended (None for other envs)."""

    def __init__(self, env_id: str, num_envs: int, seed: int = 0, device: str | torch.device = "cpu",
                 env_kwargs: dict | None = None, train: bool = True) -> None:
        self.spec = env_spec(env_id)
        self.env_id, self.num_envs, self.seed = env_id, num_envs, seed
        self.device = torch.device(device)
        if is_mujoco(self.spec.entry_point):
            quiet_mujoco()
        if is_atari(self.spec):
            self.env = AtariVec(env_id, num_envs, train=train, **dict(env_kwargs or {}))
        else:
            self.env = gym.make_vec(env_id, num_envs=num_envs, **dict(env_kwargs or {}))
        self.game_scores = getattr(self.env, "game_scores", None)
        self.frame_skip = getattr(self.env, "frame_skip", 1)  # emulator frames per env step
        self.same_step = self.env.metadata.get("autoreset_mode") == AutoresetMode.SAME_STEP
        self.single_observation_space = self.env.single_observation_space
        self.single_action_space = self.env.single_action_space
        pixels = getattr(self.single_observation_space, "dtype", None) == np.uint8
        self.obs_dtype = torch.uint8 if pixels else torch.float32
        self.reward_threshold = self.spec.reward_threshold
        box = isinstance(self.single_action_space, spaces.Box)
        self._low = torch.as_tensor(self.single_action_space.low, device=self.device) if box else None
        self._high = torch.as_tensor(self.single_action_space.high, device=self.device) if box else None
        self.steps = 0

    def check_finite(self, obs: torch.Tensor) -> None:
        """A LabError when any observation is NaN (checked per rollout, not per step)."""
        if obs.is_floating_point() and torch.isnan(obs).any():
            raise LabError(f"env {self.env_id!r} returned NaN observations (within its first {self.steps} vector "
                           "steps); fix the env's dynamics or reset, or check the actions it was given")

    def reset(self) -> torch.Tensor:
        obs, _ = self.env.reset(seed=self.seed)
        self._numpy = not isinstance(obs, torch.Tensor)
        obs = as_tensor(obs, self.device, self.obs_dtype)
        self.check_finite(obs)
        return obs

    def step(self, actions: torch.Tensor):
        """-> (obs, reward, terminated, truncated, final_obs or None), all tensors on the env's own device."""
        if self._low is not None:
            actions = torch.maximum(torch.minimum(actions, self._high), self._low)
        obs, reward, terminated, truncated, info = self.env.step(actions.cpu().numpy() if self._numpy else actions)
        self.steps += 1
        final_obs = None
        if self.same_step and "final_obs" in info:
            final_obs = info["final_obs"]
            if not isinstance(final_obs, torch.Tensor):  # gymnasium's sync same-step mode: an object array
                final_obs = np.stack([f if m else o for f, m, o in zip(final_obs, info["_final_obs"], obs)])
        return obs, reward, terminated, truncated, final_obs

    def close(self) -> None:
        self.env.close()
