"""Sweeps: checks before any trial, seeded proposals, a local grid sweep with a crashing trial, the W&B path."""

from __future__ import annotations

import json
import subprocess

import pytest
import yaml

from lab.errors import LabError
from lab.sweep import driver, online
from lab.sweep.local import propose
from lab.sweep.spec import load_spec

FAST = ["experiment=xor_mlp", "trainer.max_epochs=2", "logger=none", "~callbacks.progress_bar",
        "trainer.enable_progress_bar=false"]


def write_sweep(tmp_path, name="s", method="grid", metric=None, parameters=None, fixed=FAST):
    config = {"program": "scripts/train.py", "method": method,
              "metric": metric or {"name": "val/loss", "goal": "minimize"},
              "parameters": parameters or {"model.net.activation_name": {"values": ["relu", "tanh"]}},
              "command": ["${env}", "${interpreter}", "${program}", *fixed, "${args_no_hyphens}"]}
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return str(path)


def test_unknown_method_fails_before_any_trial(tmp_path):
    path = write_sweep(tmp_path, method="hyperband")
    with pytest.raises(LabError, match="unknown sweep method 'hyperband'; use one of grid, random, bayes"):
        driver.sweep([f"sweep={path}", f"out={tmp_path / 'out'}"])
    assert not (tmp_path / "out").exists()


def test_parameter_not_a_config_key_fails_before_any_trial(tmp_path):
    path = write_sweep(tmp_path, parameters={"model.net.actvation": {"values": ["relu", "tanh"]}})
    with pytest.raises(LabError, match="parameter 'model.net.actvation' is not a config key"):
        driver.sweep([f"sweep={path}", f"out={tmp_path / 'out'}"])
    assert not (tmp_path / "out").exists()


def test_metric_no_run_reports_fails_before_any_trial(tmp_path):
    path = write_sweep(tmp_path, metric={"name": "val/accuracy", "goal": "maximize"})
    with pytest.raises(LabError, match=r"no run reports metric 'val/accuracy'; this experiment reports: .*val/acc"):
        driver.sweep([f"sweep={path}", f"out={tmp_path / 'out'}"])
    assert not (tmp_path / "out").exists()


def test_random_sweep_repeats_with_the_same_seed(tmp_path):
    params = {"model.optimizer.lr": {"distribution": "log_uniform_values", "min": 1e-4, "max": 1e-1},
              "model.net.activation_name": {"values": ["relu", "tanh", "swish"]}}
    spec = load_spec(write_sweep(tmp_path, method="random", parameters=params))
    first, second, other = propose(spec, 5, seed=3), propose(spec, 5, seed=3), propose(spec, 5, seed=4)
    assert first == second
    assert first != other
    assert len({p["model.optimizer.lr"] for p in first}) == 5


def test_engine_sees_the_results_the_driver_records(tmp_path):
    """The pydantic-2 pitfall: results given to SweepRun(...) vanish; the driver sets them as attributes."""
    from lab.sweep.local import Trial, _engine, _record

    sweeps = _engine()
    run = sweeps.SweepRun(config={"a": {"value": 1}}, summary_metrics={"val/loss": 0.5})
    assert run.summary_metrics == {}  # what the pitfall looks like
    trial = Trial(0, {"a": 1}, ["a=1"], tmp_path, state="finished", value=0.25)
    _record(run, trial, "val/loss")
    assert run.metric_extremum("val/loss", "minimum") == 0.25


@pytest.mark.slow
def test_local_grid_sweep_runs_every_trial_records_crashes_and_picks_the_best(tmp_path, capsys):
    params = {"model.optimizer.lr": {"values": [0.05, -1.0]},
              "model.net.activation_name": {"values": ["relu", "tanh"]}}
    out = tmp_path / "out"
    summary = driver.sweep([f"sweep={write_sweep(tmp_path, parameters=params)}", f"out={out}", "check_metric=false"])
    trials = list(csv_rows(out / "trials.csv"))
    assert len(trials) == 4 and summary["trials"] == 4
    failed = [t for t in trials if t["state"] == "failed"]
    finished = [t for t in trials if t["state"] == "finished"]
    assert {float(t["model.optimizer.lr"]) for t in failed} == {-1.0} and len(failed) == 2
    assert all("model.optimizer.lr must be > 0" in t["note"] for t in failed)
    values = {}
    for t in finished:
        on_disk = json.loads((out / f"trial_{t['trial']}" / "metrics.json").read_text())
        assert float(t["val/loss"]) == pytest.approx(on_disk["val/loss"], rel=1e-3)
        values[int(t["trial"])] = on_disk["val/loss"]
    best = json.loads((out / "best.json").read_text())
    assert best["best_trial"] == min(values, key=values.get)
    assert best["best_value"] == pytest.approx(min(values.values()))
    assert best["failed"] == 2 and best["finished"] == 2
    printed = capsys.readouterr().out
    assert f"best: trial {best['best_trial']} val/loss=" in printed and "| trial | state |" in printed


def csv_rows(path):
    import csv

    with open(path) as f:
        yield from csv.DictReader(f)


def test_with_a_wandb_account_the_sweep_is_created_on_wandb_and_an_agent_runs(tmp_path, monkeypatch):
    import wandb

    calls = {}
    monkeypatch.setattr(driver, "has_api_key", lambda: True)
    monkeypatch.setattr(wandb, "sweep", lambda sweep, project, entity: calls.update(config=sweep, project=project) or "abc123")
    monkeypatch.setattr(subprocess, "run", lambda command, **kw: calls.update(command=command))
    path = write_sweep(tmp_path)
    result = driver.sweep([f"sweep={path}", "count=3", "check_metric=false", "project=labtest"])
    assert result == {"wandb_sweep": "labtest/abc123"}
    assert calls["command"][1:] == ["-m", "wandb", "agent", "--count", "3", "labtest/abc123"]
    assert calls["config"]["method"] == "grid" and "${args_no_hyphens}" in calls["config"]["command"]
