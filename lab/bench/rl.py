"""RL: wall time and env steps to solve, the lab vs Stable-Baselines3 (RL-Zoo hyperparameters), side by side.

PPO and DQN on CartPole-v1 (solved = 475), SAC on Pendulum-v1 (solved = -200). The solved check is the SAME for
both libraries: a deterministic 20-episode evaluation (lab.rl.evaluate.run_episodes) every `check_every` env steps;
wall time counts training only (evaluation time excluded for both) from the first env step. Each seed runs the lab
then SB3 back to back; both use 1 torch thread. For PPO, the training rate is also set against the raw stepping rate
of the same vectorised env driven by pre-drawn random actions (the ceiling).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from lab.bench._sb3 import sb3_solve

DOC = "benchmarks.md"
TITLE = "RL: time to solve, lab vs Stable-Baselines3 (PPO, DQN on CartPole-v1; SAC on Pendulum-v1)"
QUIET = ["logger=none", "~callbacks.progress_bar", "trainer.enable_progress_bar=false"]
EPISODES = 20
EVAL_SEED = 777


def linear(value: float):
    return lambda progress_remaining: progress_remaining * value


# experiment -> env, solved threshold, check cadence, step budget, how the lab's config evaluates at that cadence,
# and SB3's algorithm with the RL-Zoo's hyperparameters for that env (hyperparams/{ppo,dqn,sac}.yml).
SOLVES = {
    "ppo_cartpole": dict(
        env="CartPole-v1", threshold=475.0, check_every=2048, budget=100_000, lab=["model.eval_every=1"],
        sb3=("PPO", dict(n_envs=8, n_steps=32, batch_size=256, gae_lambda=0.8, gamma=0.98, n_epochs=20,
                         ent_coef=0.0, learning_rate=linear(0.001), clip_range=linear(0.2))),
        zoo="8 envs x 32 steps, batch 256, 20 epochs, gae 0.8, gamma 0.98, lr/clip linear",
        ours="16 envs x 128 steps, 10 epochs x 2 minibatches, lr 1e-3 and clip 0.2 annealed, no value clipping"),
    "dqn_cartpole": dict(
        env="CartPole-v1", threshold=475.0, check_every=1024, budget=50_000,
        lab=["model.steps_per_epoch=1024", "model.eval_every=1"],
        sb3=("DQN", dict(learning_rate=2.3e-3, batch_size=64, buffer_size=100_000, learning_starts=1000, gamma=0.99,
                         target_update_interval=10, train_freq=256, gradient_steps=128, exploration_fraction=0.16,
                         exploration_final_eps=0.04, policy_kwargs=dict(net_arch=[256, 256]))),
        zoo="256x256, lr 2.3e-3, batch 64, train_freq 256 / 128 gradient steps, eps 1 -> 0.04 over 16%",
        ours="128x128, lr decayed to 0, 3-step returns, 64 gradient steps every 64 env steps from 500 on, target "
             "copied after each phase, eps 1 -> 0.04 over 10%",
        same=["model.q_net.hidden=[256,256]", "model.train_freq=256", "model.gradient_steps=128",
              "model.target_update_interval=128", "model.n_step=1", "model.exploration_fraction=0.16",
              "model.learning_starts=1000"]),
    "sac_pendulum": dict(
        env="Pendulum-v1", threshold=-200.0, check_every=1000, budget=20_000,
        lab=["model.steps_per_epoch=1000", "model.eval_every=1"],
        sb3=("SAC", dict(learning_rate=1e-3)),
        zoo="lr 1e-3, SB3 defaults: 256x256, batch 256, tau 0.005, auto entropy, 1 gradient step per env step",
        ours="64x64 nets, otherwise the same",
        same=["model.actor.hidden=[256,256]", "model.critic.hidden=[256,256]"]),
}


def lab_solve(name: str, seed: int, out: Path, experiment: str | None = None, extra: list[str] = ()) -> dict:
    """The lab's run of SOLVES[name] (or of `experiment`, another config of the same env, under the same check;
    `extra`: more overrides)."""
    from lab.train import run_experiment

    spec = SOLVES[name]
    metrics = run_experiment(QUIET + [f"experiment={experiment or name}", f"seed={seed}", *spec["lab"], "model.stop_on_solve=true",
                                      f"model.eval_episodes={EPISODES}", f"model.solved_threshold={spec['threshold']}",
                                      f"model.total_timesteps={spec['budget']}", "test=false",
                                      "callbacks.model_checkpoint=null", *extra], out)
    return {"solved": "time/solve_seconds" in metrics, "seconds": metrics.get("time/solve_seconds", float("nan")),
            "steps": metrics.get("perf/solve_env_steps", float("nan")), "rate": metrics["perf/env_steps_per_sec"]}


def sb3_run(name: str, seed: int) -> dict:
    spec = SOLVES[name]
    algorithm, hyperparameters = spec["sb3"]
    return sb3_solve(algorithm, spec["env"], seed, spec["budget"], spec["threshold"], spec["check_every"], EPISODES,
                     EVAL_SEED, **hyperparameters)


def raw_env_rate(env_id: str = "CartPole-v1", num_envs: int = 8, steps: int = 20_000) -> float:
    """Env steps/s of `gymnasium.make_vec(env_id, num_envs)` with random actions drawn in advance."""
    import gymnasium as gym

    import envs  # noqa: F401  (registers lab/CartPole-v1)

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


def _cell(run: dict) -> str:
    return f"{run['seconds']:.1f} s / {run['steps']:,.0f}" if run["solved"] else "not solved"


def _median(runs: list[dict], key: str) -> float:
    return float(np.median([r[key] if r["solved"] else float("inf") for r in runs]))


def compare(name: str, seeds: list[int], root: Path) -> tuple[list[str], list[dict]]:
    """One table: per seed the lab's and SB3's time / env steps to solve, their ratio, training rates."""
    spec = SOLVES[name]
    rows, lab_runs, sb3_runs, same_runs = [], [], [], []
    for seed in seeds:
        lab, sb3 = lab_solve(name, seed, root / f"{name}_{seed}"), sb3_run(name, seed)
        lab_runs.append(lab)
        sb3_runs.append(sb3)
        ratio = sb3["seconds"] / lab["seconds"] if lab["solved"] and sb3["solved"] else float("nan")
        same = ""
        if "same" in spec:  # the lab with SB3's own hyperparameters: the implementations alone compared
            same_run = lab_solve(name, seed, root / f"{name}_{seed}_same", extra=spec["same"])
            same_runs.append(same_run)
            same = f" {_cell(same_run)} | {same_run['rate']:,.0f} |"
        rows.append(f"| {seed} | {_cell(lab)} | {_cell(sb3)} | {ratio:.2f}x | {lab['rate']:,.0f} | {sb3['rate']:,.0f} |{same}")
    lab_median, sb3_median = _median(lab_runs, "seconds"), _median(sb3_runs, "seconds")
    worst = min((s["seconds"] if s["solved"] else float("inf")) / (lab["seconds"] if lab["solved"] else float("inf"))
                for lab, s in zip(lab_runs, sb3_runs))
    lines = [f"**{name}** ({spec['env']}, solved = eval >= {spec['threshold']:g}, checked every {spec['check_every']:,} "
             f"env steps, budget {spec['budget']:,}; lab: conf/experiment/{name}.yaml, {spec['ours']}; SB3 "
             f"{spec['sb3'][0]}: {spec['zoo']})", "",
             "| seed | lab: seconds / env steps to solve | SB3: seconds / env steps to solve | SB3 time / lab time "
             "| lab train env steps/s | SB3 train env steps/s |" + (" lab with SB3's hyperparameters: seconds / env steps "
                                                                  "| its env steps/s |" if same_runs else ""),
             "| --- | ---: | ---: | ---: | ---: | ---: |" + (" ---: | ---: |" if same_runs else ""), *rows, "",
             f"Median wall time to solve: lab {lab_median:.1f} s, SB3 {sb3_median:.1f} s "
             f"(lab {sb3_median / lab_median:.2f}x faster); worst seed: lab {worst:.2f}x SB3's speed."
             + (f" The lab with SB3's hyperparameters: median {_median(same_runs, 'seconds'):.1f} s." if same_runs else ""),
             ""]
    return lines, lab_runs


def _sb3_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("stable-baselines3")
    except PackageNotFoundError:
        return "(not installed: pip install -e '.[bench]')"


def run(quick: bool = False, seeds: int | None = None, only: list[str] | None = None) -> dict[str, str]:
    """One block per experiment (`rl/<experiment>`), and `rl/ceiling` when PPO runs. Seeds 0..seeds-1 (default 3;
    quick: 1); `only`: some of SOLVES (quick: PPO and DQN)."""
    torch.set_num_threads(1)
    root = Path(tempfile.mkdtemp(prefix="bench-rl-"))
    seeds_run = list(range(seeds or (1 if quick else 3)))
    names = only or (["ppo_cartpole", "dqn_cartpole"] if quick else list(SOLVES))
    unknown = [name for name in names if name not in SOLVES]
    if unknown:
        raise SystemExit(f"lab-bench rl: unknown experiment(s) {', '.join(unknown)}; choose from {', '.join(SOLVES)}")
    which = f"seeds 0-{seeds_run[-1]}" if len(seeds_run) > 1 else "seed 0"
    header = (f"{torch.get_num_threads()} torch thread; SB3 {_sb3_version()}; {which}, "
              "each seed the lab then SB3 back to back.")
    blocks, ppo_runs = {}, []
    for name in names:
        lines, lab_runs = compare(name, seeds_run, root)
        blocks[f"rl/{name}"] = "\n".join([header, "", *lines]).strip()
        ppo_runs = lab_runs if name == "ppo_cartpole" else ppo_runs
    if not ppo_runs:
        return blocks

    from lab.train import compose_config

    model = compose_config(["experiment=ppo_cartpole"]).model
    num_envs = int(model.num_envs)
    raw, raw_torch = raw_env_rate(num_envs=num_envs), raw_env_rate("lab/CartPole-v1", num_envs=num_envs)
    torch_rate = lab_solve("ppo_cartpole", 0, root / "ppo_lab_cartpole", experiment="ppo_lab_cartpole")["rate"]
    rate = float(np.median([r["rate"] for r in ppo_runs]))
    blocks["rl/ceiling"] = "\n".join([
        f"| env ({num_envs} envs) | raw random-action steps/s (ceiling) | lab PPO training steps/s | fraction |",
        "| --- | ---: | ---: | ---: |",
        f"| CartPole-v1 (gymnasium native vector env) | {raw:,.0f} | {rate:,.0f} | {rate / raw:.1%} |",
        f"| lab/CartPole-v1 (torch-batched) | {raw_torch:,.0f} | {torch_rate:,.0f} | {torch_rate / raw_torch:.1%} |"])
    return blocks
