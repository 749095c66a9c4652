"""Where the lab's own files are, in a checkout and in an installed wheel alike.

The Hydra configs live in `conf/` at the top of the repository; `lab/conf` links to it, and a wheel ships them as
package data under `lab/conf`, so one path serves both.
"""

from __future__ import annotations

import sys
from pathlib import Path

CONF_DIR = Path(__file__).resolve().parent.parent / "conf"
LAB_TRAIN_PROGRAMS = ("scripts/train.py", "lab/train.py", "lab-train")


def train_command(program: str = "scripts/train.py", python: str = sys.executable) -> list[str]:
    """The command that runs `program` with `python`: the lab's own train entry runs as `python -m
    lab.train` (which works installed, from any directory); any other program is a path."""
    if program in LAB_TRAIN_PROGRAMS:
        return [python, "-m", "lab.train"]
    return [python, program]
