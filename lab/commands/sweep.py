"""lab-sweep: run a hyperparameter sweep written in W&B's sweep format (conf/sweep/NAME.yaml or a path).

    lab-sweep sweep=digits_activation_bn
    lab-sweep sweep=ppo_cartpole_bayes count=12 seed=1 mode=local out=outputs/my_sweep
With a W&B account (WANDB_API_KEY or `wandb login`) mode=auto creates the sweep on W&B and runs `wandb agent`;
without one a local driver proposes the same runs with W&B's open-source `sweeps` engine, each its own lab run.
"""

from __future__ import annotations

from lab.commands.args import run_cli
from lab.sweep.driver import DEFAULTS, sweep


def main(argv: list[str] | None = None) -> dict | None:
    """Console entry point (`lab-sweep`)."""
    return run_cli(sweep, argv, __doc__, DEFAULTS, required=("sweep",))
