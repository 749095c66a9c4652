"""RL results as RL libraries publish them: each experiment's final deterministic eval return (mean and std over
seeds) at the RL-Zoo's step budget, beside the RL-Zoo's published number (one run of theirs) and, for the
experiments whose seeds spread (`SB3_SAME_SEEDS`), beside Stable-Baselines3 run here on the same seeds; HalfCheetah
and Hopper, and LunarLanderContinuous (whose RL-Zoo budgets take 2-3 hours a seed on a 2-core CPU), at 100k steps
beside SB3 run at the same budget. Writes one learning-curve picture per env into docs/curves/; the tables go to
docs/results.md with --write.

Each run is its own `python -m lab.train` process (two at a time on this 2-core box), as shipped except: the budget,
no periodic evaluation or stop-on-solve, and the CSV logger for the curves. Final return = the test stage's
20 deterministic episodes of the final policy (no best-checkpoint selection).
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import tempfile
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from lab.bench.rl import SOLVES
from lab.run.resources import train_command

DOC = "results.md"
TITLE = "RL results: final eval return at the RL-Zoo budget, beside the RL-Zoo"
SEEDS = (0, 1, 2)
CURVES_DIR = Path("docs") / "curves"
# experiment, env steps (the RL-Zoo's n_timesteps unless noted), RL-Zoo benchmark.md mean and std (None: not published)
RESULTS = [
    ("reinforce_cartpole", 150_000, None, None),        # not in the RL-Zoo (no REINFORCE there); the shipped budget
    ("a2c_cartpole", 500_000, 500.0, 0.0),
    ("ppo_cartpole", 100_000, 500.0, 0.0),
    ("ppo_acrobot", 1_000_000, -73.5, 18.2),
    ("ppo_pendulum", 100_000, -172.2, 104.2),
    ("dqn_cartpole", 50_000, 500.0, 0.0),
    ("dqn_acrobot", 100_000, -76.6, 11.8),
    ("dqn_mountaincar", 120_000, -100.8, 9.9),
    ("dqn_lunarlander", 100_000, 154.4, 79.2),          # RL-Zoo's number is for LunarLander-v2
    ("ppo_lunarlander", 1_000_000, 242.1, 31.8),        # v2 as well
    ("sac_pendulum", 20_000, -157.0, 88.7),
    ("td3_pendulum", 20_000, -151.9, 90.2),
    ("ddpg_pendulum", 20_000, -152.1, 94.3),
    ("sac_invertedpendulum", 20_000, None, None),       # not in the RL-Zoo table; the env's maximum is 1000
]
# experiment, SB3 algorithm, env, the RL-Zoo's hyperparameters for it (hyperparams/{sac,td3}.yml, MuJoCo entries)
SB3_SIDE_BY_SIDE = [
    ("sac_halfcheetah", "SAC", "HalfCheetah-v5", {"learning_starts": 10_000}),
    ("td3_halfcheetah", "TD3", "HalfCheetah-v5", {"learning_starts": 10_000, "learning_rate": 1e-3,
                                                   "action_noise_std": 0.1}),
    ("sac_hopper", "SAC", "Hopper-v5", {"learning_starts": 10_000}),
    # the RL-Zoo's 500k steps of 400x300 nets would take about 3 hours a seed here (46 gradient steps/s)
    ("sac_lunarlander_continuous", "SAC", "LunarLanderContinuous-v3",
     {"learning_starts": 10_000, "batch_size": 256, "learning_rate": "lin_7.3e-4", "buffer_size": 1_000_000,
      "tau": 0.01, "gamma": 0.99, "policy_kwargs": {"net_arch": [400, 300]}}),
    ("ppo_halfcheetah", "PPO", "HalfCheetah-v5",        # hyperparams/ppo.yml, HalfCheetah-v3 (normalize: true)
     {"normalize": True, "batch_size": 64, "n_steps": 512, "gamma": 0.98, "learning_rate": 2.0633e-05,
      "ent_coef": 0.000401762, "clip_range": 0.1, "n_epochs": 20, "gae_lambda": 0.92, "max_grad_norm": 0.8,
      "vf_coef": 0.58096, "policy_kwargs": {"log_std_init": -2, "ortho_init": False, "activation_fn": "relu",
                                            "net_arch": {"pi": [256, 256], "vf": [256, 256]}}}),
]
SIDE_BY_SIDE_STEPS = 100_000
# experiments whose seeds spread: SB3 with the RL-Zoo's hyperparameters (hyperparams/dqn.yml) on the same seeds and
# budget, so that the spread is read beside the reference implementation's, not beside one published run
SB3_SAME_SEEDS = {
    "dqn_cartpole": ("DQN", "CartPole-v1", SOLVES["dqn_cartpole"]["sb3"][1]),  # the time-to-solve table's settings
    "dqn_mountaincar": ("DQN", "MountainCar-v0", {"learning_rate": 4e-3, "batch_size": 128, "buffer_size": 10_000,
                                                  "learning_starts": 1000, "gamma": 0.98, "target_update_interval": 600,
                                                  "train_freq": 16, "gradient_steps": 8, "exploration_fraction": 0.2,
                                                  "exploration_final_eps": 0.07,
                                                  "policy_kwargs": {"net_arch": [256, 256]}}),
}


def _train(experiment: str, seed: int, steps: int, out: Path) -> dict:
    overrides = [f"experiment={experiment}", f"seed={seed}", f"model.total_timesteps={steps}", "model.eval_every=0",
                 "model.stop_on_solve=false", "logger=csv", "trainer.enable_progress_bar=false",
                 "callbacks.model_checkpoint=null", "model.eval_episodes=20", f"hydra.run.dir={out}"]
    result = subprocess.run([*train_command(), *overrides], capture_output=True, text=True)
    if result.returncode != 0:
        return {"error": (result.stderr.strip().splitlines() or ["?"])[-1][:200]}
    metrics = json.loads((out / "metrics.json").read_text())
    curve = []
    with open(out / "csv" / "metrics.csv") as f:
        for row in csv.DictReader(f):
            if row.get("train/return_mean") and row.get("train/env_steps"):
                curve.append((float(row["train/env_steps"]), float(row["train/return_mean"])))
    return {"return": metrics["eval/return_mean"], "seconds": metrics["time/fit_seconds"], "curve": curve}


def _sb3(algorithm: str, env_id: str, seed: int, steps: int, hyperparameters: dict) -> dict:
    """SB3's run as its own process (lab.bench._sb3), so that it shares the pool with the lab's runs."""
    result = subprocess.run([sys.executable, "-m", "lab.bench._sb3", algorithm, env_id, str(seed), str(steps),
                             json.dumps(hyperparameters)], capture_output=True, text=True)
    if result.returncode != 0:
        return {"error": (result.stderr.strip().splitlines() or ["?"])[-1][:200]}
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    return {"return": outcome["return_mean"], "seconds": outcome["seconds"]}


def _plot(experiment: str, runs: list[dict], published: float | None, label: str = "RL-Zoo (final)",
          seeds=SEEDS) -> Path:
    from lab.callbacks.viz import new_figure

    figure, axis = new_figure(figsize=(5, 3.2))
    for seed, run in zip(seeds, runs):
        if run.get("curve"):
            steps, returns = zip(*run["curve"])
            axis.plot(steps, returns, label=f"seed {seed}", linewidth=1.2)
    if published is not None:
        axis.axhline(published, color="black", linestyle="--", linewidth=1, label=label)
    axis.set(xlabel="env steps", ylabel="train episode return (mean of last 20)", title=experiment)
    if axis.get_legend_handles_labels()[0]:
        axis.legend(fontsize=7)
    CURVES_DIR.mkdir(parents=True, exist_ok=True)
    path = CURVES_DIR / f"{experiment}.png"
    figure.savefig(path, dpi=100, bbox_inches="tight")
    return path


def _summary(runs: list[dict]) -> str:
    returns = [r["return"] for r in runs if "return" in r]
    errors = [r["error"] for r in runs if "error" in r]
    if not returns:
        return f"failed: {errors[0] if errors else '?'}"
    return f"{np.mean(returns):.1f} +- {np.std(returns):.1f} ({', '.join(f'{r:.0f}' for r in returns)})"


def run(quick: bool = False, seeds: int | None = None) -> dict[str, str]:
    """Blocks `rl_results` (every RESULTS row over seeds 0..seeds-1, default SEEDS) and `rl_results/sb3_100k` (the
    side-by-side runs; not in quick mode)."""
    run_seeds = tuple(range(seeds)) if seeds else SEEDS
    root = Path(tempfile.mkdtemp(prefix="bench-rl-results-"))
    jobs = []  # (key, what to run); the MuJoCo ones (longest) first, so that two at a time finish together
    if not quick:
        for name, algorithm, env_id, hyperparameters in SB3_SIDE_BY_SIDE:
            jobs.append(((name, "lab"), lambda name=name: _train(name, 0, SIDE_BY_SIDE_STEPS, root / f"{name}_side")))
            jobs.append(((name, "sb3"), lambda a=algorithm, e=env_id, h=hyperparameters:
                         _sb3(a, e, 0, SIDE_BY_SIDE_STEPS, h)))
    for name, steps, *_ in RESULTS:
        for seed in run_seeds:
            budget = 2_000 if quick else steps
            jobs.append(((name, seed), lambda n=name, s=seed, b=budget: _train(n, s, b, root / f"{n}_{s}")))
            if name in SB3_SAME_SEEDS and not quick:
                algorithm, env_id, hyperparameters = SB3_SAME_SEEDS[name]
                jobs.append(((name, "sb3", seed), lambda a=algorithm, e=env_id, s=seed, b=budget, h=hyperparameters:
                             _sb3(a, e, s, b, h)))

    def run_job(job):
        key, work = job
        outcome = work()
        shown = {k: v for k, v in outcome.items() if k != "curve"}
        print(f"  {key}: {shown}", file=sys.stderr, flush=True)  # progress, and a record if the run is cut short
        return key, outcome

    with ThreadPoolExecutor(max_workers=2) as pool:
        done = dict(pool.map(run_job, jobs))
    results: dict[str, list[dict]] = defaultdict(list)
    for name, steps, *_ in RESULTS:
        results[name] = [done[(name, seed)] for seed in run_seeds]

    rows = ["| experiment | env steps | lab final eval return, mean +- std (per seed) | RL-Zoo | SB3 here, same seeds "
            "(RL-Zoo settings) | fit seconds (median) |", "| --- | ---: | --- | --- | --- | ---: |"]
    for name, steps, mean, std in RESULTS:
        runs = results[name]
        zoo = f"{mean:.1f} +- {std:.1f}" if mean is not None else "-"
        same_seeds = (name, "sb3", run_seeds[0]) in done
        sb3 = _summary([done[(name, "sb3", seed)] for seed in run_seeds]) if same_seeds else "-"
        seconds = np.median([r["seconds"] for r in runs if "seconds" in r] or [float("nan")])
        rows.append(f"| {name} | {2_000 if quick else steps:,} | {_summary(runs)} | {zoo} | {sb3} | {seconds:.0f} |")
        _plot(name, runs, mean, seeds=run_seeds)

    blocks = {"rl_results": "\n".join([f"Seeds {', '.join(map(str, run_seeds))}; two runs at a time. Learning curves: "
                                       f"{CURVES_DIR}/<experiment>.png.", "", *rows])}
    if quick:
        return blocks
    side = [f"MuJoCo and LunarLanderContinuous at {SIDE_BY_SIDE_STEPS:,} env steps, seed 0, lab and SB3 "
            "(RL-Zoo MuJoCo defaults: learning_starts 10,000; TD3: lr 1e-3, Gaussian action noise 0.1; PPO: its "
            "HalfCheetah entry, VecNormalize on; SAC on LunarLanderContinuous: its entry, lr linear from 7.3e-4) "
            "on the same machine, in the same pool of two runs at a time:", "",
            "| experiment | lab final return | lab seconds | SB3 final return | SB3 seconds |",
            "| --- | ---: | ---: | ---: | ---: |"]
    for name, *_ in SB3_SIDE_BY_SIDE:
        lab, sb3 = done[(name, "lab")], done[(name, "sb3")]
        cells = [f"{r['return']:.0f} | {r['seconds']:.0f}" if "return" in r else f"{r['error']} | -"
                 for r in (lab, sb3)]
        side.append(f"| {name} | {cells[0]} | {cells[1]} |")
        _plot(name, [lab], sb3.get("return"), "SB3 here (final)", seeds=(0,))
    blocks["rl_results/sb3_100k"] = "\n".join(side)
    return blocks
