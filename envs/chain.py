"""A chain of states with a known optimal return: walk right to the goal, paying a small cost per step.

States 0..n-1 (observed one-hot), start at 0; action 1 moves right, 0 moves left (walls clamp). Each step
costs `step_cost`; the step that reaches state n-1 earns `goal_reward` and ends the episode. The optimal
return (undiscounted) is `goal_reward - step_cost * (n - 2)`, see `ChainEnv.optimal_return`.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from gymnasium import spaces


class ChainEnv(gym.Env):
    metadata = {"render_modes": ["rgb_array"], "render_fps": 4}

    def __init__(self, length: int = 8, step_cost: float = 0.1, goal_reward: float = 1.0,
                 render_mode: str | None = None) -> None:
        if length < 2:
            raise ValueError("a chain needs at least 2 states")
        self.length, self.step_cost, self.goal_reward = length, step_cost, goal_reward
        self.observation_space = spaces.Box(0.0, 1.0, (length,), dtype=np.float32)
        self.action_space = spaces.Discrete(2)
        self.render_mode = render_mode
        self.position, self.steps = 0, 0

    @property
    def optimal_return(self) -> float:
        return self.goal_reward - self.step_cost * (self.length - 2)

    def _obs(self) -> np.ndarray:
        obs = np.zeros(self.length, dtype=np.float32)
        obs[self.position] = 1.0
        return obs

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.position, self.steps = 0, 0
        return self._obs(), {}

    def step(self, action):
        assert self.action_space.contains(action), f"{action!r} ({type(action)}) invalid"
        self.steps += 1
        self.position = min(max(self.position + (1 if int(action) == 1 else -1), 0), self.length - 1)
        terminated = self.position == self.length - 1
        reward = self.goal_reward if terminated else -self.step_cost
        return self._obs(), float(reward), terminated, False, {}

    def render(self):
        if self.render_mode != "rgb_array":
            return None
        cell = 32
        image = np.full((cell, cell * self.length, 3), 255, dtype=np.uint8)
        image[:, (self.length - 1) * cell:] = (80, 200, 80)
        image[4:-4, self.position * cell + 4:(self.position + 1) * cell - 4] = (60, 60, 220)
        image[-3:, :min(self.steps * 4, image.shape[1])] = (0, 0, 0)  # a clock: every frame differs
        return image
