"""With a W&B account: create the sweep on W&B and run `wandb agent` here (W&B's server proposes the runs)."""

from __future__ import annotations

import subprocess
import sys

from lab.sweep.spec import SweepSpec


def run_online(spec: SweepSpec, count: int, project: str, entity: str | None = None) -> str:
    """Register the sweep, then run an agent for `count` runs (0: until the sweep is done); return the sweep path."""
    import wandb

    sweep_id = wandb.sweep(sweep=dict(spec.config), project=project, entity=entity or None)
    path = "/".join(part for part in (entity, project, sweep_id) if part)
    command = [sys.executable, "-m", "wandb", "agent", *(["--count", str(count)] if count else []), path]
    print(f"sweep {spec.name}: created W&B sweep {path}; running: {' '.join(command[1:])}", flush=True)
    subprocess.run(command, check=False)
    return path
