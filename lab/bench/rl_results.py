"""RL results as RL libraries publish them: each experiment's final deterministic eval return (mean and std over
seeds) at the RL-Zoo's step budget, beside the RL-Zoo's published number; HalfCheetah and Hopper at 100k steps
beside Stable-Baselines3 run at the same budget here. Writes one learning-curve picture per env.

Each run is its own `python -m lab.train` process (two at a time on this 2-core box), as shipped except: the budget,
no periodic evaluation or stop-on-solve, and the CSV logger for the curves. Final return = the test stage's
20 deterministic episodes of the final policy (no best-checkpoint selection).
"""

from __future__ import annotations

import csv
import json
import subprocess
import tempfile
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from lab.bench import machine
from lab.resources import train_command

TITLE = "RL results: final eval return at the RL-Zoo budget, beside the RL-Zoo"
SEEDS = (0, 1, 2)
CURVES_DIR = Path("docs") / "curves"
# experiment, env steps (the RL-Zoo's n_timesteps unless noted), RL-Zoo benchmark.md mean and std (None: not published)
RESULTS = [
    ("ppo_cartpole", 100_000, 500.0, 0.0),
    ("ppo_acrobot", 1_000_000, -73.5, 18.2),
    ("ppo_pendulum", 100_000, -172.2, 104.2),
    ("dqn_cartpole", 50_000, 500.0, 0.0),
    ("dqn_acrobot", 100_000, -76.6, 11.8),
    ("dqn_mountaincar", 120_000, -100.8, 9.9),
    ("dqn_lunarlander", 100_000, 154.4, 79.2),          # RL-Zoo's number is for LunarLander-v2
    ("sac_pendulum", 20_000, -157.0, 88.7),
    ("td3_pendulum", 20_000, -151.9, 90.2),
    ("ddpg_pendulum", 20_000, -152.1, 94.3),
    ("sac_invertedpendulum", 20_000, None, None),       # not in the RL-Zoo table; the env's maximum is 1000
]
SB3_SIDE_BY_SIDE = [("sac_halfcheetah", "SAC", "HalfCheetah-v5"), ("td3_halfcheetah", "TD3", "HalfCheetah-v5"),
                    ("sac_hopper", "SAC", "Hopper-v5")]
SIDE_BY_SIDE_STEPS = 100_000


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


def _plot(experiment: str, runs: list[dict], published: float | None) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(5, 3.2))
    for seed, run in zip(SEEDS, runs):
        if run.get("curve"):
            steps, returns = zip(*run["curve"])
            axis.plot(steps, returns, label=f"seed {seed}", linewidth=1.2)
    if published is not None:
        axis.axhline(published, color="black", linestyle="--", linewidth=1, label="RL-Zoo (final)")
    axis.set(xlabel="env steps", ylabel="train episode return (mean of last 20)", title=experiment)
    axis.legend(fontsize=7)
    CURVES_DIR.mkdir(parents=True, exist_ok=True)
    path = CURVES_DIR / f"{experiment}.png"
    figure.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(figure)
    return path


def _summary(runs: list[dict]) -> str:
    returns = [r["return"] for r in runs if "return" in r]
    errors = [r["error"] for r in runs if "error" in r]
    if not returns:
        return f"failed: {errors[0] if errors else '?'}"
    return f"{np.mean(returns):.1f} +- {np.std(returns):.1f} ({', '.join(f'{r:.0f}' for r in returns)})"


def run(quick: bool = False) -> str:
    from lab.bench._sb3 import sb3_final_return

    root = Path(tempfile.mkdtemp(prefix="bench-rl-results-"))
    jobs = [(name, seed, 2_000 if quick else steps) for name, steps, *_ in RESULTS for seed in SEEDS]
    if not quick:
        jobs += [(name, 0, SIDE_BY_SIDE_STEPS) for name, *_ in SB3_SIDE_BY_SIDE]
    with ThreadPoolExecutor(max_workers=2) as pool:
        done = list(pool.map(lambda job: _train(job[0], job[1], job[2], root / f"{job[0]}_{job[1]}"), jobs))
    results: dict[str, list[dict]] = defaultdict(list)
    for (name, _, _), outcome in zip(jobs, done):
        results[name].append(outcome)

    rows = ["| experiment | env steps | lab final eval return, mean +- std (per seed) | RL-Zoo | fit seconds (median) |",
            "| --- | ---: | --- | --- | ---: |"]
    for name, steps, mean, std in RESULTS:
        runs = results[name]
        zoo = f"{mean:.1f} +- {std:.1f}" if mean is not None else "-"
        seconds = np.median([r["seconds"] for r in runs if "seconds" in r] or [float("nan")])
        rows.append(f"| {name} | {2_000 if quick else steps:,} | {_summary(runs)} | {zoo} | {seconds:.0f} |")
        _plot(name, runs, mean)

    side = []
    if not quick:
        side = [f"MuJoCo at {SIDE_BY_SIDE_STEPS:,} env steps, seed 0, lab and SB3 (RL-Zoo MuJoCo defaults: "
                "learning_starts 10,000) on the same machine:", "",
                "| experiment | lab final return | lab seconds | SB3 final return | SB3 seconds |",
                "| --- | ---: | ---: | ---: | ---: |"]
        for name, algorithm, env_id in SB3_SIDE_BY_SIDE:
            lab = results[name][0]
            sb3 = sb3_final_return(algorithm, env_id, 0, SIDE_BY_SIDE_STEPS, 10, 777, learning_starts=10_000)
            lab_cells = f"{lab['return']:.0f} | {lab['seconds']:.0f}" if "return" in lab else f"{lab['error']} | -"
            side.append(f"| {name} | {lab_cells} | {sb3['return_mean']:.0f} | {sb3['seconds']:.0f} |")
    return "\n".join([f"Measured on {machine()}; seeds {', '.join(map(str, SEEDS))}; two runs at a time. "
                      f"Learning curves: {CURVES_DIR}/<experiment>.png.", "", *rows, "", *side])
