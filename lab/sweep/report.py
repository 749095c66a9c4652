"""The end of a sweep: a table of trials, the best configuration, written to the sweep's directory."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

from lab.sweep.local import Trial
from lab.sweep.spec import SweepSpec


def best_trial(trials: list[Trial], goal: str) -> Trial | None:
    finished = [t for t in trials if t.state == "finished" and t.value is not None and math.isfinite(t.value)]
    if not finished:
        return None
    pick = max if goal == "maximize" else min
    return pick(finished, key=lambda t: t.value)


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _rows(spec: SweepSpec, trials: list[Trial]) -> tuple[list[str], list[list[str]]]:
    keys = list(spec.parameters)
    header = ["trial", "state", *keys, spec.metric, "seconds", "note"]
    rows = [[str(t.index), t.state, *[_cell(t.params.get(k)) for k in keys], _cell(t.value),
             f"{t.seconds:.1f}", t.error] for t in trials]
    return header, rows


def markdown_table(spec: SweepSpec, trials: list[Trial]) -> str:
    header, rows = _rows(spec, trials)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell.replace("|", "/") for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def write_report(spec: SweepSpec, trials: list[Trial], sweep_dir: Path, group: str | None) -> dict:
    """Write trials.csv, trials.md and best.json; return what best.json holds."""
    header, rows = _rows(spec, trials)
    with open(sweep_dir / "trials.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    best = best_trial(trials, spec.goal)
    summary = {"sweep": spec.name, "group": group, "method": spec.method, "metric": spec.metric, "goal": spec.goal,
               "trials": len(trials), "finished": sum(t.state == "finished" for t in trials),
               "failed": sum(t.state == "failed" for t in trials)}
    if best is not None:
        summary.update(best_trial=best.index, best_value=best.value, best_params=best.params,
                       best_run_dir=str(best.run_dir),
                       reproduce=" ".join(["python", spec.program, *spec.fixed, *best.overrides]))
    (sweep_dir / "best.json").write_text(json.dumps(summary, indent=2) + "\n")
    text = f"# sweep {spec.name} ({spec.method}, {spec.goal} {spec.metric})\n\n{markdown_table(spec, trials)}\n"
    (sweep_dir / "trials.md").write_text(text)
    return summary
