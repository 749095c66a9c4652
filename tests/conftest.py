"""Shared fixtures: run an experiment in-process into a temporary run directory."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")

REPO = Path(__file__).resolve().parent.parent

# Fast defaults for tests: no W&B unless a test asks for it, no progress bar in the logs.
QUIET = ["logger=none", "~callbacks.progress_bar", "trainer.enable_progress_bar=false"]


@pytest.fixture
def run_exp(tmp_path):
    """Call `run_exp([...overrides])` -> metrics dict; the run directory is `tmp_path / 'run'`."""
    from lab.train import run_experiment

    def _run(overrides, subdir: str = "run", quiet: bool = True):
        out = tmp_path / subdir
        metrics = run_experiment((QUIET if quiet else []) + list(overrides), out)
        on_disk = json.loads((out / "metrics.json").read_text())
        assert metrics["run_dir"] == str(out.resolve()) and on_disk.keys() == metrics.keys() - {"run_dir"}
        return metrics

    return _run


@pytest.fixture
def one_thread():
    """Run the test on one torch thread (tiny nets step faster on one than on two contended ones), then restore."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
