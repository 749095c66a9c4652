"""The final metrics of a run, printed once as a table: metrics.json's keys less the ones that repeat another.

metrics.json keeps every key Lightning and the loggers know (`train/loss_epoch` is the loggers' name of the
epoch mean `train/loss`). The table leaves out a key that only repeats another's value under a second name:
`x_epoch` beside an equal `x`, `trainer/global_step` beside an equal `train/grad_steps` (off-policy RL, whose
gradient steps are the trainer's steps), and one rank's env steps per second beside the run's in a one-process run. The whole dict also goes to the run's train.log (logger `lab.record`).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

record = logging.getLogger("lab.record")

# key -> the key it repeats when their values are equal
ALIASES = {"trainer/global_step": "train/grad_steps", "perf/rank_env_steps_per_sec": "perf/env_steps_per_sec"}


def _format(value: float) -> str:
    if value != value or abs(value) in (float("inf"),):
        return str(value)
    if float(value).is_integer() and abs(value) < 1e15:
        return f"{int(value):,}"
    return f"{value:.4g}" if abs(value) < 1e5 else f"{value:,.0f}"


def _repeats(key: str, metrics: dict[str, float]) -> bool:
    original = key[: -len("_epoch")] if key.endswith("_epoch") else ALIASES.get(key)
    return original is not None and original in metrics and metrics[original] == metrics[key]


def distinct(metrics: dict[str, float]) -> dict[str, float]:
    """The metrics, sorted by name, without the keys that repeat another key's value (see the module docstring)."""
    return {key: metrics[key] for key in sorted(metrics) if not _repeats(key, metrics)}


def print_metrics(metrics: dict[str, float], path: Path | None = None) -> None:
    """A two-column table of the distinct metrics, with where the file of all of them was written."""
    from rich.console import Console
    from rich.table import Table

    table = Table(show_edge=False)
    table.add_column("metric", style="cyan")
    table.add_column("value", justify="right")
    for key, value in distinct(metrics).items():
        table.add_row(key, _format(value))
    console = Console()
    console.print(table)
    if path is not None:
        console.print(f"metrics written to {path}", soft_wrap=True)
    record.info("final metrics: %s", json.dumps(dict(sorted(metrics.items()))))
