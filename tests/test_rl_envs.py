"""The lab's envs (check_env, torch CartPole == gymnasium CartPole) and rollout handling of autoreset modes."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.envs.classic_control.cartpole import CartPoleEnv
from gymnasium.utils.env_checker import check_env

import envs
from envs.torch_cartpole import TorchCartPoleVectorEnv
from lab.errors import LabError
from lab.rl.heads import make_head
from lab.rl.rollout import EpisodeTracker, collect_rollout
from lab.rl.vec import VecEnv

LAB_IDS = sorted(k for k in gym.registry if k.startswith("lab/"))


def test_lab_envs_are_registered():
    assert {"lab/CartPole-v1", "lab/Chain-v0"} <= set(LAB_IDS)


@pytest.mark.parametrize("env_id", LAB_IDS)
def test_check_env_passes(env_id):
    env = gym.make(env_id)
    check_env(env.unwrapped, skip_render_check=True)
    env.close()


def test_torch_cartpole_matches_gymnasium_trajectories():
    n, steps = 16, 200
    rng = np.random.default_rng(0)
    starts = rng.uniform(-0.2, 0.2, size=(n, 4))
    flips = rng.random(size=(steps, n)) < 0.2  # a balancing controller with random mistakes: long episodes
    batched = TorchCartPoleVectorEnv(n, max_episode_steps=10**6)
    batched.reset(seed=0)
    batched.state = torch.as_tensor(starts, dtype=torch.float64)
    references = []
    for start in starts:
        ref = CartPoleEnv()
        ref.reset(seed=0)
        ref.state = start.copy()
        references.append(ref)
    alive = np.ones(n, dtype=bool)
    compared = 0
    for t in range(steps):
        state_before = batched.state.clone()
        balance = (state_before[:, 2] + 0.5 * state_before[:, 3] > 0).numpy()
        action = (balance ^ flips[t]).astype(np.int64)
        _, reward, terminated, _, info = batched.step(torch.as_tensor(action))
        final = info["final_obs"].numpy()
        for i, ref in enumerate(references):
            if not alive[i]:
                continue
            obs, ref_reward, ref_terminated, _, _ = ref.step(int(action[i]))
            np.testing.assert_allclose(final[i], obs, rtol=0, atol=1e-6)
            assert bool(terminated[i]) == ref_terminated and float(reward[i]) == ref_reward
            compared += 1
            if ref_terminated:
                alive[i] = False
        assert torch.isfinite(state_before).all()
    assert compared > 1000 and not alive.all()  # long trajectories compared, and terminations happened


def test_torch_cartpole_vector_env_autoresets_and_truncates():
    env = gym.make_vec("lab/CartPole-v1", 4, max_episode_steps=20)
    env.reset(seed=1)
    ones = torch.ones(4, dtype=torch.int64)
    for _ in range(19):
        _, _, terminated, truncated, _ = env.step(ones * 0 if _ % 2 else ones)
        assert not truncated.any()
    _, _, terminated, truncated, info = env.step(ones)
    assert (truncated | terminated).all() and truncated.any()
    assert info["_final_obs"].all()
    assert (env.steps == 0).all()


def _chain_rollout(num_steps: int):
    env = VecEnv("lab/Chain-v0", 2, seed=0)
    obs = env.reset()
    always_left = lambda o: torch.zeros(o.shape[0], dtype=torch.int64)  # noqa: E731
    tracker = EpisodeTracker(2, torch.device("cpu"))
    return env, collect_rollout(env, always_left, obs, num_steps, tracker)


def test_next_step_autoreset_step_is_not_a_transition():
    env, rollout = _chain_rollout(60)  # the chain truncates at 50 steps; gymnasium resets on the NEXT step
    assert not env.same_step
    assert rollout.truncated[49].all() and not rollout.terminated.any()
    assert not rollout.valid[50].any() and rollout.valid[:50].all() and rollout.valid[51:].all()
    assert (rollout.rewards[50] == 0).all()
    # the obs after the truncated step is the FINAL obs (bootstrap from it), then the reset obs
    assert torch.equal(rollout.obs[50], rollout.obs[49])
    assert rollout.episode_returns.tolist() == pytest.approx([-5.0, -5.0])
    assert rollout.episode_lengths.tolist() == [50, 50]


def test_episode_stats_carry_across_rollouts():
    env = VecEnv("lab/Chain-v0", 2, seed=0)
    tracker = EpisodeTracker(2, torch.device("cpu"))
    always_left = lambda o: torch.zeros(o.shape[0], dtype=torch.int64)  # noqa: E731
    first = collect_rollout(env, always_left, env.reset(), 30, tracker)
    second = collect_rollout(env, always_left, first.next_obs, 30, tracker)
    assert len(first.episode_returns) == 0
    assert second.episode_lengths.tolist() == [50, 50]
    assert second.episode_returns.tolist() == pytest.approx([-5.0, -5.0])


def test_unknown_env_id_is_a_lab_error():
    with pytest.raises(LabError, match="unknown env id 'NoSuchEnv-v9'"):
        VecEnv("NoSuchEnv-v9", 2)


def test_unsupported_action_space_is_a_lab_error():
    with pytest.raises(LabError, match="not supported by the lab's policy heads"):
        make_head(gym.spaces.MultiDiscrete([2, 3]))


class NaNEnv(gym.Env):
    observation_space = gym.spaces.Box(-1.0, 1.0, (2,), dtype=np.float32)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(2, dtype=np.float32), {}

    def step(self, action):
        self.t += 1
        obs = np.full(2, np.nan if self.t >= 3 else 0.0, dtype=np.float32)
        return obs, 0.0, False, False, {}


def test_nan_observations_are_a_lab_error():
    if "labtest/NaN-v0" not in gym.registry:
        gym.register("labtest/NaN-v0", entry_point=NaNEnv, max_episode_steps=100, disable_env_checker=True)
    env = VecEnv("labtest/NaN-v0", 2)
    tracker = EpisodeTracker(2, torch.device("cpu"))
    with pytest.raises(LabError, match="returned NaN observations"):
        collect_rollout(env, lambda o: torch.zeros(2, dtype=torch.int64), env.reset(), 8, tracker)
    assert envs  # the lab's ids were registered by importing envs


def test_a_mujoco_run_prints_no_settotalmass_warning_and_writes_no_mujoco_log(tmp_path):
    # gymnasium's half_cheetah.xml sets the deprecated `settotalmass`; MuJoCo warned at every model load
    import subprocess

    from lab.run.resources import train_command

    result = subprocess.run([*train_command(), "experiment=sac_halfcheetah", "model.total_timesteps=200",
                             "model.learning_starts=100", "model.steps_per_epoch=200", "model.batch_size=32",
                             "model.eval_every=1", "model.eval_episodes=1", "logger=none",
                             f"hydra.run.dir={tmp_path / 'run'}"], cwd=tmp_path, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "eval/return_mean" in result.stdout  # it trained, evaluated and tested: models were loaded
    assert "settotalmass" not in result.stdout + result.stderr
    assert not (tmp_path / "MUJOCO_LOG.TXT").exists()
