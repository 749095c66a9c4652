"""Atari from pixels the way the DeepMind results were made, on ale-py's own C++ vector env.

`AtariVec(env_id, num_envs, train=...)` steps `num_envs` games on ALE's threads with the standard preprocessing
built in (ale_py.AtariVectorEnv): up to 30 no-op starts, frame skip 4 with max-pooling of the last two frames,
84x84 grayscale, 4 stacked frames (zeros before an episode's first frame), FIRE on reset for games that need it.
Observations are uint8 (N, 4, 84, 84); the network divides by 255.

Training (`train=True`), as in DQN/PPO on Atari: rewards are clipped to their sign, and a lost life ends a
training episode. The game itself goes on (ALE's `life_loss_info`): the step after a life loss is the episode's
"reset" step, taken with FIRE (or NOOP for games without FIRE), as baselines' EpisodicLifeEnv + FireResetEnv do,
so that with gymnasium's next-step autoreset every done is followed by one step that is not a transition, the
contract `lab.rl.rollout` and `lab.rl.replay` already keep. The raw game scores (unclipped, all lives) of the
games that ended are kept in `game_scores` for the progress bar and the logs.

Evaluation (`train=False`): full games (all lives), raw scores, no clipping; the step after a lost life is taken
with FIRE too (the agent never had to learn it), and only the game's end is a done.

Another ALE id (`PongNoFrameskip-v4`, `ALE/Breakout-v5`, ...) works the same way: the game, sticky-action
probability and episode frame limit come from its registered spec.
"""

from __future__ import annotations

from collections import deque

import gymnasium as gym
import numpy as np

ALE_ENTRY_POINT = "ale_py.env:AtariEnv"


def register_ale() -> None:
    """Register ale-py's ids with gymnasium (idempotent); the ROMs ship inside the ale-py wheel."""
    import ale_py

    gym.register_envs(ale_py)


def is_atari(spec: gym.envs.registration.EnvSpec) -> bool:
    return str(spec.entry_point) == ALE_ENTRY_POINT


class AtariVec:
    """A gymnasium-style vector env (reset/step/close, single_*_space, metadata) over ale_py.AtariVectorEnv."""

    frame_skip = 4

    def __init__(self, env_id: str, num_envs: int, train: bool = True, num_threads: int = 0,
                 stack: int = 4, size: int = 84, noop_max: int = 30, screen: bool = False) -> None:
        """`screen=True`: observations are the game's own RGB screen (N, 1, 210, 160, 3), for a person to watch;
        with the same seed and actions such an env plays the same game as the agent's."""
        import ale_py

        register_ale()
        spec = gym.spec(env_id)
        kwargs = spec.kwargs
        self.train = train
        height, width = (210, 160) if screen else (size, size)
        self.env = ale_py.AtariVectorEnv(
            kwargs["game"], num_envs, num_threads=num_threads,
            repeat_action_probability=kwargs.get("repeat_action_probability", 0.0),
            full_action_space=kwargs.get("full_action_space", False),
            max_num_frames_per_episode=kwargs.get("max_num_frames_per_episode", 108_000),
            img_height=height, img_width=width, grayscale=not screen, stack_num=1 if screen else stack,
            frameskip=self.frame_skip, maxpool=True,
            noop_max=noop_max, episodic_life=False, life_loss_info=True, reward_clipping=False,
            use_fire_reset=True)
        self.num_envs = num_envs
        self.single_observation_space = self.env.single_observation_space
        self.single_action_space = self.env.single_action_space
        self.metadata = dict(self.env.metadata)  # autoreset_mode: next-step
        probe = gym.make(env_id)
        meanings = probe.unwrapped.get_action_meanings()
        probe.close()
        self.reset_action = meanings.index("FIRE") if "FIRE" in meanings else 0
        self._life_lost = np.zeros(num_envs, dtype=bool)  # this env's next step is its episode's reset step
        self._scores = np.zeros(num_envs)
        self.game_scores: deque = deque(maxlen=1000)  # raw scores of finished games, newest last
        self.games = 0

    def reset(self, seed: int | None = None, options: dict | None = None):
        self._life_lost[:] = False
        self._scores[:] = 0.0
        return self.env.reset(seed=seed, options=options)

    def step(self, actions):
        actions = np.asarray(actions)
        if self._life_lost.any():
            actions = np.where(self._life_lost, self.reset_action, actions)
        obs, rewards, terminated, truncated, info = self.env.step(actions)
        self._scores += rewards
        game_over = truncated | (terminated & (info["lives"] == 0))
        self._life_lost = terminated & ~game_over
        if self.train:
            rewards = np.sign(rewards)
        else:
            terminated = terminated & game_over
        for i in np.flatnonzero(game_over):
            self.game_scores.append(float(self._scores[i]))
            self._scores[i] = 0.0
            self.games += 1
        return obs, rewards.astype(np.float32), terminated, truncated, info

    def close(self) -> None:
        self.env.close()
