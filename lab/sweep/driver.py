"""`python scripts/sweep.py sweep=NAME [count=N seed=S mode=auto|local|wandb out=DIR]`: check, then run a sweep."""

from __future__ import annotations

import time
from pathlib import Path

from lab.commands.args import parse_args
from lab.errors import LabError
from lab.sweep.checks import check_spec
from lab.sweep.local import grid_size, run_local
from lab.sweep.report import markdown_table, write_report
from lab.sweep.spec import load_spec
from lab.run.wandb_mode import has_api_key

DEFAULTS = {"sweep": None, "count": 0, "seed": 0, "mode": "auto", "out": "", "project": "lab", "entity": "",
            "check_metric": True}
DEFAULT_RANDOM_COUNT = 10


def _count(spec, count: int) -> int:
    if count > 0:
        return count
    if spec.method == "grid":
        return grid_size(spec)
    return int(spec.config.get("run_cap") or DEFAULT_RANDOM_COUNT)


def _print_trial(trial) -> None:
    value = "" if trial.value is None else f" {trial.value:.4g}"
    note = f" ({trial.error})" if trial.error else ""
    print(f"trial {trial.index}: {trial.state}{value} in {trial.seconds:.1f}s  {' '.join(trial.overrides)}{note}",
          flush=True)


def sweep(argv: list[str]) -> dict:
    args = parse_args(argv, DEFAULTS, required=("sweep",))
    if args["mode"] not in ("auto", "local", "wandb"):
        raise LabError(f"mode={args['mode']!r}: use auto (W&B when an API key is set, else local), local or wandb")
    spec = load_spec(args["sweep"])
    count = _count(spec, args["count"])
    online = args["mode"] == "wandb" or (args["mode"] == "auto" and has_api_key())
    if args["mode"] == "wandb" and not has_api_key():
        raise LabError("mode=wandb needs a W&B account: run `wandb login` or set WANDB_API_KEY (or use mode=local)")
    uses_wandb = check_spec(spec, metric=args["check_metric"])
    if online:
        from lab.sweep.online import run_online

        return {"wandb_sweep": run_online(spec, args["count"], args["project"], args["entity"] or None)}

    stamp = time.strftime("%Y-%m-%d_%H-%M-%S")
    sweep_dir = Path(args["out"]) if args["out"] else Path("outputs") / "sweeps" / spec.name / stamp
    sweep_dir = sweep_dir.resolve()
    sweep_dir.mkdir(parents=True, exist_ok=True)
    (sweep_dir / "sweep.yaml").write_text(Path(spec.source).read_text())
    group = f"sweep-{spec.name}-{stamp}" if uses_wandb else None
    if spec.config.get("early_terminate"):
        print("note: early_terminate is applied by W&B's server; the local driver runs every trial to the end")
    print(f"sweep {spec.name}: {spec.method}, {count} trial(s), {spec.goal} {spec.metric}; W&B group {group or '(no W&B logger)'}; "
          f"dir {sweep_dir}", flush=True)
    trials = run_local(spec, sweep_dir, count, args["seed"], group, on_trial=_print_trial)
    summary = write_report(spec, trials, sweep_dir, group)
    print("\n" + markdown_table(spec, trials) + "\n")
    if "best_trial" in summary:
        print(f"best: trial {summary['best_trial']} {spec.metric}={summary['best_value']:.4g} "
              f"{summary['best_params']}\nreproduce: {summary['reproduce']}")
    else:
        print("best: none (no trial finished)")
    print(f"wrote {sweep_dir}/best.json, trials.csv, trials.md")
    return summary
