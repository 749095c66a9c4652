"""The local sweep driver: W&B's open-source `sweeps` engine proposes, each trial is its own lab run.

Each trial is `python -m lab.train <fixed> <swept> hydra.run.dir=<sweep dir>/trial_<i>` in a fresh
process, so DDP (`trainer=ddp`) works inside a trial and Hydra multirun is never involved. Trials log to W&B
(offline without an API key) grouped by the sweep id; the driver reads each trial's metrics.json.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lab.run.resources import train_command
from lab.sweep.spec import SweepSpec, param_overrides, plain, seed_search


@dataclass
class Trial:
    index: int
    params: dict[str, Any]
    overrides: list[str]
    run_dir: Path
    state: str = "pending"
    value: float | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    error: str = ""


def _engine():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydantic 2 renamed a config key the package still uses
        import sweeps
    return sweeps


def _record(run, trial: Trial, metric: str) -> None:
    """Tell the engine a trial's outcome. Set as attributes: under pydantic 2 `SweepRun(...)` drops
    summary_metrics/history given to its constructor (their aliases are the only accepted names)."""
    sweeps = _engine()
    run.state = sweeps.RunState.finished if trial.state == "finished" else sweeps.RunState.failed
    scores = {} if trial.value is None else {metric: trial.value}
    run.summary_metrics = scores
    run.history = [scores] if scores else []


def propose(spec: SweepSpec, count: int, seed: int) -> list[dict[str, Any]]:
    """The first `count` proposals with no results fed back (what a random or grid sweep will run)."""
    sweeps = _engine()
    seed_search(seed)
    runs, proposals = [], []
    for _ in range(count):
        run = sweeps.next_run(spec.config, runs)
        if run is None:
            break
        run.state = sweeps.RunState.running
        runs.append(run)
        proposals.append({key: plain(entry["value"]) for key, entry in run.config.items()})
    return proposals


def grid_size(spec: SweepSpec) -> int:
    size = 1
    for param in spec.parameters.values():
        size *= len(param["values"]) if "values" in param else 1
    return size


def trial_command(spec: SweepSpec, swept: list[str], run_dir: Path, group: str | None,
                  python: str = sys.executable) -> list[str]:
    command = [*train_command(spec.program, python), *spec.fixed, *swept, f"hydra.run.dir={run_dir}"]
    if group:
        command += [f"logger.wandb.group={group}", f"logger.wandb.name={group}-{run_dir.name}"]
    return command


def _error_line(output: str) -> str:
    lines = [line for line in output.strip().splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:") or "Error" in line]
    return (errors or lines or ["(no output)"])[-1][:300]


def run_trial(spec: SweepSpec, trial: Trial, group: str | None) -> Trial:
    trial.run_dir.mkdir(parents=True, exist_ok=True)
    command = trial_command(spec, trial.overrides, trial.run_dir, group)
    start = time.perf_counter()
    with open(trial.run_dir / "trial.log", "w") as log:
        log.write(" ".join(command) + "\n")
        log.flush()
        result = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, env=os.environ.copy())
    trial.seconds = time.perf_counter() - start
    metrics_file = trial.run_dir / "metrics.json"
    if result.returncode != 0 or not metrics_file.exists():
        trial.state = "failed"
        trial.error = f"exit {result.returncode}: {_error_line((trial.run_dir / 'trial.log').read_text())}"
        return trial
    trial.metrics = json.loads(metrics_file.read_text())
    if spec.metric not in trial.metrics:
        trial.state, trial.error = "failed", f"metrics.json has no {spec.metric}"
        return trial
    trial.state, trial.value = "finished", float(trial.metrics[spec.metric])
    return trial


def run_local(spec: SweepSpec, sweep_dir: Path, count: int, seed: int, group: str | None,
              on_trial=None) -> list[Trial]:
    """Propose and run up to `count` trials one after another; a failed trial is recorded and the sweep goes on."""
    sweeps = _engine()
    seed_search(seed)
    runs, trials = [], []
    for index in range(count):
        run = sweeps.next_run(spec.config, runs)
        if run is None:  # a grid is exhausted
            break
        params = {key: plain(entry["value"]) for key, entry in run.config.items()}
        trial = Trial(index, params, param_overrides(run.config), sweep_dir / f"trial_{index}")
        run_trial(spec, trial, group)
        _record(run, trial, spec.metric)
        runs.append(run)
        trials.append(trial)
        if on_trial:
            on_trial(trial)
    return trials
