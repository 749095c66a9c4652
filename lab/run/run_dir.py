"""The run directory: a new one per run, where a resumed run continues, and clearing what a refused run would
leave behind."""

from __future__ import annotations

import shutil
import time
from pathlib import Path


def new_run_dir(name: str, root: str | Path = "outputs") -> Path:
    """Create and return `<root>/<name>/<date>_<time>`, the layout of `lab-train`'s run directories; a second run
    started in the same second gets `..._<time>-1` (then -2, ...), never a folder another run already holds."""
    stamp = time.strftime("%Y-%m-%d_%H-%M-%S")
    parent = Path(root) / name
    parent.mkdir(parents=True, exist_ok=True)
    for n in range(10_000):
        path = parent / (stamp if n == 0 else f"{stamp}-{n}")
        try:
            path.mkdir()
        except FileExistsError:
            continue
        return path.resolve()
    raise FileExistsError(f"no free run directory under {parent} for {stamp}")


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
