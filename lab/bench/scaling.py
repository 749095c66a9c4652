"""Scaling on CPU: samples/s of 1 process against 2 DDP processes (gloo), and bf16-mixed against float32.

Every configuration runs as its own `python -m lab.train` process (DDP needs one); the rate is samples (the
classifier: training examples over all ranks, counted by RankReport) or env steps (PPO) per second of
`Trainer.fit`, read from the run's files. Weak scaling: every process keeps the configured batch / envs. Best of 2 interleaved repeats.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

from lab.bench import table
from lab.run.resources import train_command

DOC = "benchmarks.md"
TITLE = "Scaling: 1 vs 2 DDP processes, bf16-mixed vs float32 (CPU)"
QUIET = ["logger=none", "trainer.enable_progress_bar=false", "test=false",
         "+callbacks.rank_report._target_=lab.callbacks.rank_report.RankReport",
         "+callbacks.rank_report.save_params=false"]


def _train(overrides: list[str]) -> tuple[dict, list[dict]]:
    """Run one configuration in a fresh process; return (metrics.json, the rank reports)."""
    with tempfile.TemporaryDirectory(prefix="lab-bench-") as out:
        command = [*train_command(), *QUIET, *overrides, f"hydra.run.dir={out}"]
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(overrides)} failed: {result.stderr.strip().splitlines()[-1:]}")
        reports = [json.loads(p.read_text()) for p in sorted(Path(out, "ranks").glob("rank*.json"))]
        return json.loads(Path(out, "metrics.json").read_text()), reports


def classifier_rate(extra: list[str], epochs: int) -> float:
    metrics, reports = _train(["experiment=digits_mlp", f"trainer.max_epochs={epochs}",
                               "trainer.limit_val_batches=0", *extra])
    return sum(r["samples"] for r in reports) / metrics["time/fit_seconds"]


def ppo_rate(extra: list[str], steps: int) -> float:
    metrics, _ = _train(["experiment=ppo_cartpole", f"model.total_timesteps={steps}", "model.eval_every=0",
                         "model.stop_on_solve=false", "callbacks.model_checkpoint.monitor=train/return_mean",
                         "callbacks.model_checkpoint.every_n_epochs=10", *extra])
    return metrics["train/env_steps"] / metrics["time/fit_seconds"]


DDP = ["trainer=ddp", "trainer.devices=2"]
BF16 = ["trainer.precision=bf16-mixed"]


def run(quick: bool = False) -> str:
    epochs, steps, repeats = (2, 4096, 1) if quick else (6, 16384, 2)
    cases = [("MLP classifier (digits, batch 32/process)", classifier_rate, epochs, "samples/s"),
             ("PPO CartPole-v1 (16 envs/process)", ppo_rate, steps, "env steps/s")]
    rows = []
    for name, rate, size, unit in cases:
        best = {"one": 0.0, "two": 0.0, "bf16": 0.0}
        for _ in range(repeats):  # interleaved, best of each: load from other jobs hits all three alike
            for key, extra in (("one", []), ("two", DDP), ("bf16", BF16)):
                best[key] = max(best[key], rate(extra, size))
        one, two, bf16 = best["one"], best["two"], best["bf16"]
        rows.append([name, unit, one, two, f"{two / one:.2f}x ({two / one / 2:.0%})", bf16, f"{bf16 / one:.2f}x"])
    note = ("\n\nScaling efficiency = (2-process rate / 1-process rate) / 2. 16-mixed (fp16 AMP) needs a GPU; on "
            "CPU the lab runs 16-mixed as bf16-mixed.")
    return table(["model", "unit", "1 process fp32", "2 DDP processes fp32", "speed-up (efficiency)",
                  "1 process bf16-mixed", "bf16 / fp32"], rows) + note
