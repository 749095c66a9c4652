"""Play whole episodes with a policy: returns for evaluation, frames for videos."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from lab.rl.mujoco_log import install as quiet_mujoco, is_mujoco
from lab.rl.vec import VecEnv, as_tensor, to_numpy

MAX_EVAL_STEPS = 100_000


@torch.no_grad()
def run_episodes(env_id: str, act: Callable[[torch.Tensor], torch.Tensor], episodes: int, seed: int,
                 device: str | torch.device = "cpu", env_kwargs: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Returns and lengths of `episodes` episodes, the first one of each of `episodes` parallel envs."""
    use_headless_mujoco(env_id)
    env = VecEnv(env_id, episodes, seed=seed, device=device, env_kwargs=env_kwargs, train=False)
    returns = np.zeros(episodes)
    lengths = np.zeros(episodes, dtype=np.int64)
    finished = np.zeros(episodes, dtype=bool)
    try:
        obs = env.reset()
        for _ in range(MAX_EVAL_STEPS):
            obs, reward, terminated, truncated, _ = env.step(act(obs))
            live = ~finished
            returns += np.where(live, to_numpy(reward), 0.0)
            lengths += live
            finished |= to_numpy(terminated) | to_numpy(truncated)
            if finished.all():
                break
            obs = as_tensor(obs, env.device, env.obs_dtype)
    finally:
        env.close()
    return returns, lengths


def use_headless_mujoco(env_id: str) -> None:
    """MuJoCo envs render off-screen through EGL unless the user chose a backend (MUJOCO_GL): set at the call,
    before the renderer is made, never at import; their deprecation noise is dropped (`lab.rl.mujoco_log`)."""
    from lab.rl.vec import env_spec

    if is_mujoco(env_spec(env_id).entry_point):
        quiet_mujoco()
        if not os.environ.get("MUJOCO_GL"):
            os.environ["MUJOCO_GL"] = "egl"


@torch.no_grad()
def record_episode(env_id: str, act: Callable[[torch.Tensor], torch.Tensor], path: str | Path, seed: int = 0,
                   fps: int = 30, max_frames: int = 2000) -> tuple[Path, float]:
    """Play one episode rendered as rgb_array and write it to `path` (.gif or .mp4); return (path, return).
    Atari: a full game with its raw score, shown as the frames the agent sees (84x84, 3x enlarged)."""
    import gymnasium as gym

    from lab.rl.atari import is_atari
    from lab.rl.vec import env_spec

    if is_atari(env_spec(env_id)):
        frames, total = _atari_game(env_id, act, seed)
        return _write_video([f.repeat(3, 0).repeat(3, 1) for f in frames], path, fps), total
    use_headless_mujoco(env_id)
    env = gym.make(env_id, render_mode="rgb_array")
    obs, _ = env.reset(seed=seed)
    frames, total = [env.render()], 0.0
    for _ in range(max_frames):
        action = act(torch.as_tensor(obs, dtype=torch.float32).unsqueeze(0))[0].cpu().numpy()
        if isinstance(env.action_space, gym.spaces.Discrete):
            action = int(action)
        else:
            action = np.clip(action, env.action_space.low, env.action_space.high)
        obs, reward, terminated, truncated, _ = env.step(action)
        total += float(reward)
        frames.append(env.render())
        if terminated or truncated:
            break
    env.close()
    return _write_video(frames, path, fps), total


def _atari_game(env_id: str, act: Callable[[torch.Tensor], torch.Tensor], seed: int) -> tuple[list[np.ndarray], float]:
    """One whole evaluation game (all lives, raw score) on the training pipeline (ALE ends a game at 108,000
    frames = 27,000 steps); frames = each step's newest 84x84 frame."""
    env = VecEnv(env_id, 1, seed=seed, train=False)
    obs = env.reset()
    frames, total = [], 0.0
    for _ in range(27_000 + 1):
        frames.append(obs[0, -1].cpu().numpy())
        obs, reward, terminated, truncated, _ = env.step(act(obs))
        total += float(reward[0])
        if terminated[0] or truncated[0]:
            break
        obs = as_tensor(obs, env.device, env.obs_dtype)
    env.close()
    return frames, total


def _write_video(frames: list[np.ndarray], path: str | Path, fps: int) -> Path:
    import imageio.v2 as imageio

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".gif":
        imageio.mimsave(path, frames, duration=1000 / fps, loop=0)
    else:
        imageio.mimsave(path, frames, fps=fps)
    return path
