"""CartPole-v1 in torch: every env stepped as one tensor op (CPU or GPU), same dynamics as gymnasium's.

`TorchCartPoleVectorEnv` is the batched env the rollout code uses (torch tensors in and out, same-step
autoreset with the final observation in `info["final_obs"]`); `TorchCartPoleEnv` is one env of it as a
plain gymnasium Env (numpy in and out) for `check_env` and rendering.
"""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

GRAVITY, MASSCART, MASSPOLE, LENGTH, FORCE_MAG, TAU = 9.8, 1.0, 0.1, 0.5, 10.0, 0.02
TOTAL_MASS = MASSPOLE + MASSCART
POLEMASS_LENGTH = MASSPOLE * LENGTH
THETA_LIMIT = 12 * 2 * math.pi / 360
X_LIMIT = 2.4
MAX_STEPS = 500
_HIGH = np.array([X_LIMIT * 2, np.inf, THETA_LIMIT * 2, np.inf], dtype=np.float32)
OBSERVATION_SPACE = spaces.Box(-_HIGH, _HIGH, dtype=np.float32)


def cartpole_step(state: torch.Tensor, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Euler step of (N, 4) float64 states under (N,) actions in {0, 1}; returns (new state, terminated)."""
    x, x_dot, theta, theta_dot = state.unbind(-1)
    force = torch.where(action == 1, FORCE_MAG, -FORCE_MAG).to(state.dtype)
    costheta, sintheta = torch.cos(theta), torch.sin(theta)
    temp = (force + POLEMASS_LENGTH * theta_dot.square() * sintheta) / TOTAL_MASS
    thetaacc = (GRAVITY * sintheta - costheta * temp) / (LENGTH * (4.0 / 3.0 - MASSPOLE * costheta.square() / TOTAL_MASS))
    xacc = temp - POLEMASS_LENGTH * thetaacc * costheta / TOTAL_MASS
    new = torch.stack((x + TAU * x_dot, x_dot + TAU * xacc, theta + TAU * theta_dot, theta_dot + TAU * thetaacc), -1)
    terminated = (new[:, 0].abs() > X_LIMIT) | (new[:, 2].abs() > THETA_LIMIT)
    return new, terminated


class TorchCartPoleVectorEnv(VectorEnv):
    """`num_envs` CartPoles as one (N, 4) tensor; actions and results are torch tensors on `device`."""

    metadata = {"autoreset_mode": AutoresetMode.SAME_STEP, "render_modes": []}

    def __init__(self, num_envs: int = 1, device: str | torch.device = "cpu", max_episode_steps: int = MAX_STEPS,
                 render_mode: str | None = None) -> None:
        self.num_envs = num_envs
        self.device = torch.device(device)
        self.max_episode_steps = max_episode_steps
        self.render_mode = render_mode
        self.single_observation_space = OBSERVATION_SPACE
        self.single_action_space = spaces.Discrete(2)
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.action_space = batch_space(self.single_action_space, num_envs)
        self.generator = torch.Generator(device=self.device)
        self.generator.seed()
        self.state = torch.zeros(num_envs, 4, dtype=torch.float64, device=self.device)
        self.steps = torch.zeros(num_envs, dtype=torch.int64, device=self.device)

    def _initial_states(self, n: int) -> torch.Tensor:
        uniform = torch.rand(n, 4, dtype=torch.float64, device=self.device, generator=self.generator)
        return uniform * 0.1 - 0.05

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        if seed is not None:
            self.generator.manual_seed(int(seed))
        self.state = self._initial_states(self.num_envs)
        self.steps.zero_()
        return self.state.float(), {}

    def step(self, actions):
        actions = torch.as_tensor(actions, device=self.device)
        self.state, terminated = cartpole_step(self.state, actions)
        self.steps += 1
        truncated = (self.steps >= self.max_episode_steps) & ~terminated
        done = terminated | truncated
        final_obs = self.state.float()
        reward = torch.ones(self.num_envs, dtype=torch.float32, device=self.device)
        # Same-step autoreset without a host sync: every env draws a fresh start, only done ones take it.
        fresh = self._initial_states(self.num_envs)
        self.state = torch.where(done[:, None], fresh, self.state)
        self.steps = torch.where(done, 0, self.steps)
        info = {"final_obs": final_obs, "_final_obs": done}
        return self.state.float(), reward, terminated, truncated, info


class TorchCartPoleEnv(gym.Env):
    """A single torch CartPole as a gymnasium Env (numpy in and out); renders through gymnasium's CartPole."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 50}

    def __init__(self, render_mode: str | None = None) -> None:
        self.observation_space = OBSERVATION_SPACE
        self.action_space = spaces.Discrete(2)
        self.render_mode = render_mode
        self._batch = TorchCartPoleVectorEnv(1, max_episode_steps=10**12)
        self._viewer = None

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        obs, _ = self._batch.reset(seed=int(self.np_random.integers(2**62)))
        return obs[0].numpy(), {}

    def step(self, action):
        assert self.action_space.contains(action), f"{action!r} ({type(action)}) invalid"
        state, terminated = cartpole_step(self._batch.state, torch.tensor([int(action)]))
        self._batch.state = state
        return state[0].float().numpy(), 1.0, bool(terminated[0]), False, {}

    def render(self):
        if self.render_mode != "rgb_array":
            return None
        if self._viewer is None:
            from gymnasium.envs.classic_control.cartpole import CartPoleEnv

            self._viewer = CartPoleEnv(render_mode="rgb_array")
        self._viewer.state = self._batch.state[0].numpy()
        return self._viewer.render()

    def close(self) -> None:
        if self._viewer is not None:
            self._viewer.close()
            self._viewer = None
