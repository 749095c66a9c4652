"""Checks of a sweep against the lab's configs, before any trial starts.

- Every swept key must be a Hydra override that composes with the sweep's fixed overrides.
- The metric must be one a run of this experiment reports: a dry run (`trainer.fast_dev_run=true`, one batch
  of fit/validate/test, single process, no logger) lists the metrics the module actually logs; the sweep's metric
  must be among them. This needs no per-family list that could go stale. Skip it with check_metric=false.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from lab.errors import LabError
from lab.run.resources import train_command
from lab.sweep.spec import SweepSpec, override

DRY_RUN = ["++trainer.fast_dev_run=true", "logger=none", "++trainer.devices=1", "++trainer.num_nodes=1",
           "++trainer.strategy=auto", "trainer.enable_progress_bar=false", "++callbacks.progress_bar=null"]


def _first_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def _sample(spec: dict):
    if "value" in spec:
        return spec["value"]
    if "values" in spec:
        return spec["values"][0]
    return spec.get("min", 1)


def check_keys(spec: SweepSpec) -> bool:
    """Compose the config with the fixed overrides, then with each swept key; name the first that fails.
    Return whether the runs log to W&B (then the driver groups them by sweep)."""
    from lab.train import compose_config

    try:
        cfg = compose_config(spec.fixed)
    except Exception as error:
        raise LabError(f"sweep {spec.name}: the fixed overrides in `command` do not compose "
                       f"({' '.join(spec.fixed)}): {_first_line(error)}") from None
    for key, param in spec.parameters.items():
        try:
            compose_config(spec.fixed + [override(key, _sample(param))])
        except Exception as error:
            raise LabError(f"sweep {spec.name}: parameter {key!r} is not a config key of this experiment "
                           f"({_first_line(error)}); use a Hydra key such as model.optimizer.lr, "
                           f"or +{key} to add a new one") from None
    return bool(cfg.get("logger")) and "wandb" in cfg.logger


def reported_metrics(spec: SweepSpec, python: str = sys.executable) -> dict[str, float]:
    """Run the sweep's experiment once for one batch in a scratch directory; return the metrics it wrote."""
    with tempfile.TemporaryDirectory(prefix="lab-sweep-dry-") as scratch:
        command = [*train_command(spec.program, python), *spec.fixed, *DRY_RUN, f"hydra.run.dir={scratch}"]
        result = subprocess.run(command, capture_output=True, text=True)
        metrics_file = Path(scratch) / "metrics.json"
        if result.returncode != 0 or not metrics_file.exists():
            tail = (result.stderr or result.stdout).strip().splitlines()[-3:]
            raise LabError(f"sweep {spec.name}: the experiment fails before any trial: a one-batch dry run of "
                           f"`{' '.join(spec.fixed)}` exited {result.returncode}: {' | '.join(tail)}")
        return json.loads(metrics_file.read_text())


def check_metric(spec: SweepSpec) -> None:
    """The sweep's metric must be one the dry run reported."""
    metrics = reported_metrics(spec)
    if spec.metric not in metrics:
        names = ", ".join(sorted(k for k in metrics if not k.startswith("time/")))
        raise LabError(f"sweep {spec.name}: no run reports metric {spec.metric!r}; "
                       f"this experiment reports: {names}")


def check_spec(spec: SweepSpec, metric: bool = True) -> bool:
    """All checks; return whether the runs log to W&B."""
    uses_wandb = check_keys(spec)
    if metric:
        check_metric(spec)
    return uses_wandb
