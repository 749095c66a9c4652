"""PPO on CartPole-v1: the lab vs Stable-Baselines3 (RL-zoo tuned), side by side in one run, as ratios.

Solved criterion, the SAME for both: a deterministic 20-episode evaluation (lab.rl.evaluate.run_episodes, fixed
seeds) averages >= 475, checked every 2,048 env steps; wall time counts training only (evaluation time is
excluded for both) from the first rollout. Env steps/s during training are compared with the raw stepping rate
of the same vectorised env (the experiment's num_envs) driven by pre-drawn random actions (the ceiling). Both use 1 torch thread.
"""

from __future__ import annotations

import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

TITLE = "RL: PPO solving CartPole-v1, lab vs Stable-Baselines3"
QUIET = ["logger=none", "~callbacks.progress_bar", "trainer.enable_progress_bar=false"]
CHECK_EVERY = 2048
EPISODES = 20
THRESHOLD = 475.0
EVAL_SEED = 777


def raw_env_rate(env_id: str = "CartPole-v1", num_envs: int = 8, steps: int = 20_000) -> float:
    """Env steps/s of `gymnasium.make_vec(env_id, num_envs)` with random actions drawn in advance."""
    import gymnasium as gym

    import envs  # noqa: F401

    env = gym.make_vec(env_id, num_envs)
    env.reset(seed=0)
    actions = np.random.default_rng(0).integers(0, 2, size=(steps, num_envs))
    if env_id.startswith("lab/"):
        actions = torch.as_tensor(actions)
    start = time.perf_counter()
    for t in range(steps):
        env.step(actions[t])
    rate = steps * num_envs / (time.perf_counter() - start)
    env.close()
    return rate


def lab_shape() -> tuple[int, int]:
    """(num_envs, num_steps) of conf/experiment/ppo_cartpole.yaml."""
    from lab.train import compose_config

    model = compose_config(["experiment=ppo_cartpole"]).model
    return int(model.num_envs), int(model.num_steps)


def lab_ppo(seed: int, out: Path, env_id: str = "CartPole-v1", budget: int = 100_000) -> dict:
    from lab.train import run_experiment

    num_envs, num_steps = lab_shape()
    epochs_per_check = max(1, CHECK_EVERY // (num_envs * num_steps))
    metrics = run_experiment(QUIET + ["experiment=ppo_cartpole", f"model.env_id={env_id}", f"seed={seed}",
                                      f"model.eval_every={epochs_per_check}", "model.stop_on_solve=true",
                                      f"model.eval_episodes={EPISODES}", f"model.total_timesteps={budget}",
                                      "test=false", "callbacks.model_checkpoint=null"], out)
    solved = "time/solve_seconds" in metrics
    return {"solved": solved, "seconds": metrics.get("time/solve_seconds", float("nan")),
            "steps": metrics.get("perf/solve_env_steps", float("nan")),
            "rate": metrics["perf/env_steps_per_sec"]}


def sb3_ppo(seed: int, budget: int = 100_000) -> dict:
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env

    from lab.rl.evaluate import run_episodes

    def linear(value: float):
        return lambda progress_remaining: progress_remaining * value

    class SolvedCheck(BaseCallback):
        def __init__(self) -> None:
            super().__init__()
            self.next_check, self.eval_seconds, self.solved_at = CHECK_EVERY, 0.0, None

        def _on_training_start(self) -> None:
            self.start = time.perf_counter()

        def _on_step(self) -> bool:
            if self.num_timesteps < self.next_check:
                return True
            self.next_check += CHECK_EVERY
            tick = time.perf_counter()
            act = lambda obs: torch.as_tensor(self.model.predict(obs.numpy(), deterministic=True)[0])  # noqa: E731
            returns, _ = run_episodes("CartPole-v1", act, EPISODES, EVAL_SEED)
            self.eval_seconds += time.perf_counter() - tick
            if returns.mean() >= THRESHOLD:
                self.solved_at = (time.perf_counter() - self.start - self.eval_seconds, self.num_timesteps)
                return False
            return True

    env = make_vec_env("CartPole-v1", n_envs=8, seed=seed)
    model = PPO("MlpPolicy", env, n_steps=32, batch_size=256, gae_lambda=0.8, gamma=0.98, n_epochs=20, ent_coef=0.0,
                learning_rate=linear(0.001), clip_range=linear(0.2), seed=seed, device="cpu", verbose=0)
    check = SolvedCheck()
    model.learn(total_timesteps=budget, callback=check)
    train_seconds = time.perf_counter() - check.start - check.eval_seconds
    env.close()
    seconds, steps = check.solved_at or (float("nan"), float("nan"))
    return {"solved": check.solved_at is not None, "seconds": seconds, "steps": steps,
            "rate": model.num_timesteps / train_seconds}


def run(quick: bool = False) -> str:
    torch.set_num_threads(1)
    root = Path(tempfile.mkdtemp(prefix="bench-rl-"))
    seeds = [0] if quick else [0, 1, 2]
    rows, lab_runs, sb3_runs = [], [], []
    for seed in seeds:
        lab = lab_ppo(seed, root / f"lab{seed}")
        sb3 = sb3_ppo(seed)
        lab_runs.append(lab)
        sb3_runs.append(sb3)
        ratio = sb3["seconds"] / lab["seconds"] if lab["solved"] and sb3["solved"] else float("nan")
        rows.append(f"| {seed} | {lab['seconds']:.1f} s / {lab['steps']:.0f} | {sb3['seconds']:.1f} s / {sb3['steps']:.0f} "
                    f"| {ratio:.2f}x | {lab['rate']:.0f} | {sb3['rate']:.0f} |")
    num_envs, num_steps = lab_shape()
    raw = raw_env_rate(num_envs=num_envs)
    lab_torch = lab_ppo(0, root / "lab_torch_env", env_id="lab/CartPole-v1")
    raw_torch = raw_env_rate("lab/CartPole-v1", num_envs=num_envs)

    def median(runs, key):
        return float(np.median([r[key] for r in runs]))

    lines = [f"Machine: {platform.machine()} CPU, 2 cores shared with other jobs (timings are noisy); 1 torch thread. "
             f"Solved = deterministic {EPISODES}-episode eval mean >= {THRESHOLD:.0f}, checked every {CHECK_EVERY} env "
             f"steps, eval time excluded. Lab: conf/experiment/ppo_cartpole.yaml ({num_envs} envs x {num_steps} "
             "steps, 4 epochs x 2 minibatches, lr 1e-3 annealed over the 100k budget, no value clipping). SB3 2.9.2: RL-zoo CartPole hyperparameters (8 envs x 32 steps, batch "
             "256, 20 epochs, gae 0.8, gamma 0.98, lr/clip linear).", "",
             "| seed | lab: seconds / env steps to solve | SB3: seconds / env steps to solve | SB3 time / lab time "
             "| lab train env steps/s | SB3 train env steps/s |", "| --- | ---: | ---: | ---: | ---: | ---: |", *rows,
             "", f"Median wall time to solve: lab {median(lab_runs, 'seconds'):.1f} s, SB3 {median(sb3_runs, 'seconds'):.1f} s "
             f"(lab {median(sb3_runs, 'seconds') / median(lab_runs, 'seconds'):.2f}x faster).", "",
             f"| env ({num_envs} envs) | raw random-action steps/s (ceiling) | lab PPO training steps/s | fraction of ceiling |",
             "| --- | ---: | ---: | ---: |",
             f"| CartPole-v1 (gymnasium native vector env) | {raw:.0f} | {median(lab_runs, 'rate'):.0f} "
             f"| {median(lab_runs, 'rate') / raw:.1%} |",
             f"| lab/CartPole-v1 (torch-batched) | {raw_torch:.0f} | {lab_torch['rate']:.0f} | {lab_torch['rate'] / raw_torch:.1%} |",
             "", f"lab/CartPole-v1 PPO (seed 0): solved={lab_torch['solved']} after {lab_torch['steps']:.0f} env steps, "
             f"{lab_torch['seconds']:.1f} s."]
    return "\n".join(lines)
