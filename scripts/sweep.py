"""Run a hyperparameter sweep: `python scripts/sweep.py sweep=NAME [count=N seed=S mode=auto|local|wandb out=DIR]`.

NAME is conf/sweep/NAME.yaml, written in W&B's sweep format. With a W&B account (WANDB_API_KEY or
`wandb login`) the sweep is created on W&B and `wandb agent` runs it; otherwise a local driver proposes
the same runs with W&B's open-source `sweeps` engine and runs each as its own lab run.
"""

from lab.cli import run_cli
from lab.sweep.driver import sweep

if __name__ == "__main__":
    run_cli(sweep)
