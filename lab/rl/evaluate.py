"""Play whole episodes with a policy: returns for evaluation, frames for videos."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from lab.errors import LabError
from lab.rl.mujoco_log import install as quiet_mujoco, is_mujoco
from lab.rl.video import VideoWriter, fast_mujoco_render
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
                   fps: float | None = None, max_frames: int = 2000, view: str = "game") -> tuple[Path, float]:
    """Play one episode rendered as rgb_array and write it to `path`; return (the video's path, the return).

    `path` without a suffix: a GIF for a short episode, an MP4 for a long one (`lab.rl.video.VideoWriter`); with
    .gif or .mp4 that format. `fps`: the env's own `render_fps` (real time) unless given. Atari: a full game with
    its raw score, as the game's own RGB screen (`view="game"`) or as the 84x84 grayscale frames the agent sees,
    3x enlarged (`view="agent"`)."""
    import gymnasium as gym

    from lab.rl.atari import is_atari
    from lab.rl.vec import env_spec

    if view not in ("game", "agent"):
        raise LabError(f"video_view={view} is not supported; use video_view=game or video_view=agent")
    if is_atari(env_spec(env_id)):
        return _atari_game(env_id, act, path, seed, fps, view)
    use_headless_mujoco(env_id)
    env = gym.make(env_id, render_mode="rgb_array")
    fast_mujoco_render(env)
    video = VideoWriter(path, fps or env.metadata.get("render_fps") or 30)
    obs, _ = env.reset(seed=seed)
    video.append(env.render())
    total = 0.0
    for _ in range(max_frames):
        action = act(torch.as_tensor(obs, dtype=torch.float32).unsqueeze(0))[0].cpu().numpy()
        if isinstance(env.action_space, gym.spaces.Discrete):
            action = int(action)
        else:
            action = np.clip(action, env.action_space.low, env.action_space.high)
        obs, reward, terminated, truncated, _ = env.step(action)
        total += float(reward)
        video.append(env.render())
        if terminated or truncated:
            break
    env.close()
    return video.close(), total


def _atari_game(env_id: str, act: Callable[[torch.Tensor], torch.Tensor], path: str | Path, seed: int,
                fps: float | None, view: str) -> tuple[Path, float]:
    """One whole evaluation game (all lives, raw score) on the training pipeline (ALE ends a game at 108,000
    frames = 27,000 steps). `view="game"`: a second ALE env with the same seed, stepped with the same actions,
    shows the game's RGB screen (it plays the same game); `view="agent"`: each step's newest 84x84 frame."""
    from lab.rl.atari import AtariVec

    env = VecEnv(env_id, 1, seed=seed, train=False)
    screen = AtariVec(env_id, 1, train=False, screen=True) if view == "game" else None
    video = VideoWriter(path, fps or 60 / env.frame_skip)  # real time: 60 emulator frames a second

    def show(obs, screen_obs) -> None:
        frame = screen_obs[0, -1] if screen is not None else obs[0, -1].cpu().numpy().repeat(3, 0).repeat(3, 1)
        video.append(frame)

    obs = env.reset()
    screen_obs = screen.reset(seed=seed)[0] if screen is not None else None
    total = 0.0
    for _ in range(27_000 + 1):
        show(obs, screen_obs)
        action = act(obs)
        obs, reward, terminated, truncated, _ = env.step(action)
        if screen is not None:
            screen_obs = screen.step(action.cpu().numpy())[0]
        total += float(reward[0])
        if terminated[0] or truncated[0]:
            break
        obs = as_tensor(obs, env.device, env.obs_dtype)
    env.close()
    if screen is not None:
        screen.close()
    return video.close(), total
