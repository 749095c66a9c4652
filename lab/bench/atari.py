"""Atari from pixels (Breakout): training frames/s of the lab's PPO and DQN beside Stable-Baselines3 with the
RL-Zoo's Atari hyperparameters (same number of envs, same frames, same machine, one after the other), and the
memory of a 1M-transition DQN replay buffer beside SB3's. Not in CI.

Frames = emulator frames (4 per env step, the frame skip). Both libraries use every core (torch's default threads)
and run the same budget from scratch; DQN's rate is measured with learning_starts = 1,000 env steps for both, so
that gradient steps dominate as in a real run. The lab buffer's figure is the resident memory a full buffer of
random-play-like frames adds (lab.rl.frame_replay.measure_memory); SB3's is the size of the arrays its
ReplayBuffer allocates (obs and next_obs stacks), scaled from a small one: at 1M transitions numpy cannot even
reserve them on a 24 GiB machine.

The env-stepping row compares the two ways to step 8 preprocessed Breakout games with random actions: ale-py's C++
AtariVectorEnv (what lab.rl.atari uses) and gymnasium's AsyncVectorEnv of AtariPreprocessing + FrameStackObservation
(one process a game, OpenCV resizing); the faster is the one the lab uses.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

DOC = "benchmarks.md"
TITLE = "Atari (Breakout from pixels): training frames/s and replay memory, lab vs Stable-Baselines3"
ENV = "BreakoutNoFrameskip-v4"
QUIET = ["logger=none", "~callbacks.progress_bar", "trainer.enable_progress_bar=false", "test=false",
         "callbacks.model_checkpoint=null", "model.eval_every=0", "model.eval_episodes=1"]  # rates exclude evaluation


def lab_rate(experiment: str, steps: int, extra: list[str]) -> float:
    from lab.train import run_experiment

    out = Path(tempfile.mkdtemp(prefix=f"bench-{experiment}-"))
    metrics = run_experiment(QUIET + [f"experiment={experiment}", f"model.total_timesteps={steps}", *extra], out)
    return metrics["perf/frames_per_sec"]


def _sb3_env(n_envs: int):
    from stable_baselines3.common.env_util import make_atari_env
    from stable_baselines3.common.vec_env import VecFrameStack

    from lab.rl.atari import register_ale

    register_ale()
    return VecFrameStack(make_atari_env(ENV, n_envs=n_envs, seed=0), n_stack=4)


def sb3_rate(algorithm: str, steps: int) -> float:
    """SB3's training frames/s: PPO on 8 envs, DQN on 1, the RL-Zoo's hyperparameters (hyperparams/{ppo,dqn}.yml)."""
    from stable_baselines3 import DQN, PPO

    if algorithm == "PPO":
        model = PPO("CnnPolicy", _sb3_env(8), n_steps=128, n_epochs=4, batch_size=256, learning_rate=2.5e-4,
                    clip_range=0.1, vf_coef=0.5, ent_coef=0.01, device="cpu", seed=0, verbose=0)
    else:
        model = DQN("CnnPolicy", _sb3_env(1), buffer_size=10_000, learning_rate=1e-4, batch_size=32,
                    learning_starts=1000, target_update_interval=1000, train_freq=4, gradient_steps=1,
                    exploration_fraction=0.1, exploration_final_eps=0.01, optimize_memory_usage=False,
                    device="cpu", seed=0, verbose=0)
    start = time.perf_counter()
    model.learn(total_timesteps=steps)
    return 4 * steps / (time.perf_counter() - start)


def env_rate(kind: str, num_envs: int = 8, steps: int = 1_500) -> float:
    """Frames/s of stepping `num_envs` preprocessed Breakout games with random actions (no learning)."""
    import gymnasium as gym
    import numpy as np

    from lab.rl.atari import AtariVec, register_ale

    register_ale()
    if kind == "ale":
        env = AtariVec(ENV, num_envs)
    else:
        def make():
            game = gym.make(ENV)
            game = gym.wrappers.AtariPreprocessing(game, noop_max=30, frame_skip=4, screen_size=84)
            return gym.wrappers.FrameStackObservation(game, 4)
        env = gym.vector.AsyncVectorEnv([make] * num_envs)
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    n = env.single_action_space.n
    start = time.perf_counter()
    for _ in range(steps):
        env.step(rng.integers(0, n, num_envs))
    rate = 4 * num_envs * steps / (time.perf_counter() - start)
    env.close()
    return rate


def sb3_buffer_bytes(capacity: int) -> int:
    """Bytes of the arrays SB3's ReplayBuffer allocates for `capacity` stacked Breakout transitions: they grow
    linearly with the capacity, so they are measured on a 1,000-transition buffer and scaled."""
    import gymnasium as gym
    import numpy as np
    from stable_baselines3.common.buffers import ReplayBuffer

    probe = 1_000
    space = gym.spaces.Box(0, 255, (4, 84, 84), np.uint8)
    buffer = ReplayBuffer(probe, space, gym.spaces.Discrete(4), device="cpu", optimize_memory_usage=False)
    names = ("observations", "next_observations", "actions", "rewards", "dones", "timeouts")
    return sum(getattr(buffer, name).nbytes for name in names) * capacity // probe


def run(quick: bool = False) -> str:
    import stable_baselines3

    from lab.rl.frame_replay import measure_memory

    ppo_steps, dqn_steps = (2_048, 2_000) if quick else (16_384, 12_000)
    dqn_extra = ["model.learning_starts=1000", "model.buffer_size=10000"]
    cases = [("ppo_breakout (as shipped)", "ppo_breakout", "PPO", ppo_steps, []),
             ("ppo_breakout, trainer.precision=32-true", "ppo_breakout", "PPO", ppo_steps,  # SB3's arithmetic: fp32
              ["trainer.precision=32-true"]),
             ("dqn_breakout (as shipped)", "dqn_breakout", "DQN", dqn_steps, dqn_extra),
             ("dqn_breakout, model.double=true (Double DQN: one more forward pass)", "dqn_breakout", "DQN", dqn_steps,
              [*dqn_extra, "model.double=true"]),
             ("dqn_breakout, trainer.precision=32-true", "dqn_breakout", "DQN", dqn_steps,
              [*dqn_extra, "trainer.precision=32-true"])]
    rows, sb3 = [], {}
    for label, name, algorithm, steps, extra in cases:
        lab = lab_rate(name, steps, extra)
        if algorithm not in sb3:
            sb3[algorithm] = sb3_rate(algorithm, steps)
        rows.append(f"| {label} | {4 * steps:,} | {lab:,.0f} | {sb3[algorithm]:,.0f} | {lab / sb3[algorithm]:.2f}x |")
        print(rows[-1], file=sys.stderr, flush=True)  # kept if a later part fails
    ale, gym_async = env_rate("ale"), env_rate("gymnasium")
    capacity = 100_000 if quick else 1_000_000
    memory = measure_memory(capacity, num_envs=1)
    sb3_bytes = sb3_buffer_bytes(capacity)
    gib = 2 ** 30
    return "\n".join([
        f"SB3 {stable_baselines3.__version__}, {ENV}.", "",
        "| experiment | frames | lab training frames/s | SB3 training frames/s | lab / SB3 |",
        "| --- | ---: | ---: | ---: | ---: |", *rows, "",
        f"| replay buffer, {capacity:,} transitions | bytes per transition | memory | sampling, batches of 32/s |",
        "| --- | ---: | ---: | ---: |",
        f"| lab (lab.rl.frame_replay, each frame once) | {memory['bytes_per_transition']:,.0f} | "
        f"{memory['rss_bytes'] / gib:.2f} GiB resident when full | {memory['batches_per_sec']:,.0f} |",
        f"| SB3 ReplayBuffer (obs and next_obs stacks) | {sb3_bytes / capacity:,.0f} | {sb3_bytes / gib:.1f} GiB "
        "for its arrays | - |", "",
        "| stepping 8 preprocessed games, random actions | frames/s |", "| --- | ---: |",
        f"| ale-py AtariVectorEnv (C++ threads; lab.rl.atari) | {ale:,.0f} |",
        f"| gymnasium AsyncVectorEnv of AtariPreprocessing + FrameStackObservation | {gym_async:,.0f} |"])
