"""The run directory: where a resumed run continues, and clearing what a refused run would leave behind."""

from __future__ import annotations

import shutil
from pathlib import Path

def resume_run_dir(ckpt_path: str | Path) -> Path | None:
    """`<run dir>/checkpoints/last.ckpt` -> `<run dir>`; None when the file does not sit in a run's checkpoints/."""
    path = Path(ckpt_path).expanduser().resolve()
    return path.parent.parent if path.parent.name == "checkpoints" and path.is_file() else None


def remove_if_unused(run_dir: Path, hydra_files: tuple[str, ...] = (".hydra", "train.log")) -> bool:
    """Delete `run_dir` when it holds nothing but what Hydra wrote before the lab's code ran (its .hydra folder and
    the job's log), i.e. the run was refused before it wrote anything; then its parents outputs/<name>/ when they are
    left empty (never the working directory or above). Anything else in the folder keeps it. Returns whether it
    deleted."""
    if not run_dir.is_dir() or any(entry.name not in hydra_files for entry in run_dir.iterdir()):
        return False
    shutil.rmtree(run_dir)
    for parent in list(run_dir.resolve().parents)[:2]:  # outputs/<name>/ that this run created, if now empty
        if parent == Path.cwd().resolve():
            break
        try:
            parent.rmdir()  # only succeeds when empty
        except OSError:
            break
    return True
