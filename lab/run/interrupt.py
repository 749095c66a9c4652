"""A run stopped by SIGTERM (a cluster's preemption, `kill`) or Ctrl+C saves the step it reached, says in one line
how to resume, and ends with the signal's exit status (143, 130).

Lightning turns SIGTERM into `SIGTERMException` at the next batch boundary and Ctrl+C into a KeyboardInterrupt;
either way it calls every callback's `on_exception`, where Lightning's `OnExceptionCheckpoint` saves. It is held
rather than registered: a registered one makes Lightning resume any `fit(ckpt_path=None)` from the newest
checkpoint it finds in the run directory, where the lab resumes only from an explicit `ckpt_path=`.
"""

from __future__ import annotations

import logging
import shlex
import signal
from pathlib import Path

from pytorch_lightning import Callback
from pytorch_lightning.callbacks import OnExceptionCheckpoint
from pytorch_lightning.trainer.states import TrainerFn
from pytorch_lightning.utilities.exceptions import SIGTERMException

FILENAME = "interrupted"  # <run dir>/checkpoints/interrupted.ckpt

# Lightning's own lines for the same event; the lab's one line replaces them.
_LIGHTNING_LINES = {"pytorch_lightning.trainer.connectors.signal_connector": "Received SIGTERM",
                    "pytorch_lightning.utilities.rank_zero": "Detected KeyboardInterrupt",
                    "pytorch_lightning.trainer.connectors.checkpoint_connector": "`weights_only` was not set"}


class _DropLine(logging.Filter):
    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    def filter(self, record: logging.LogRecord) -> bool:
        return self.text not in record.getMessage()


def _drop_lightning_lines() -> None:
    for name, text in _LIGHTNING_LINES.items():
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropLine) for f in logger.filters):
            logger.addFilter(_DropLine(text))


def resume_command(overrides: list[str], checkpoint: str | Path) -> str:
    """`lab-train <the run's overrides> ckpt_path=<checkpoint>`, quoted for a POSIX shell."""
    kept = [o for o in overrides if not o.startswith(("ckpt_path=", "paths.output_dir="))]
    return shlex.join(["lab-train", *kept, f"ckpt_path={checkpoint}"])


class RunInterrupted(Exception):
    """A run ended by a signal; `str()` is the one line to show, `exit_code` the conventional status (128 + the
    signal's number), `checkpoint` the file it saved (None when it was stopped outside fitting)."""

    def __init__(self, signum: int, message: str, checkpoint: Path | None = None) -> None:
        self.signal = signal.Signals(signum)
        self.exit_code = 128 + int(self.signal)
        self.checkpoint = checkpoint
        super().__init__(f"{self.signal.name}: {message}")


class InterruptCheckpoint(Callback):
    """`OnExceptionCheckpoint` for the two interrupts while fitting only: a crash (a non-finite loss, a bug) keeps
    the last good checkpoint rather than saving the broken state, and an interrupted test has nothing to resume.
    The file is deleted when a run ends normally. With `save=False` (a run that keeps no checkpoints) it only
    reports the interrupt.

    A multi-process run saves nothing more: on Lightning's local DDP launcher rank 0 terminates the other ranks
    when it gets the signal, so a checkpoint (a collective) would wait for them forever; it resumes from its last
    epoch-end checkpoint."""

    def __init__(self, dirpath: str | Path, save: bool = True) -> None:
        self.saver = OnExceptionCheckpoint(str(dirpath), filename=FILENAME)
        self.save = save
        self.signal: signal.Signals | None = None
        self.step: int | None = None  # the global step reached, when the signal came while fitting
        self.saved = False
        _drop_lightning_lines()

    def on_exception(self, trainer, pl_module, exception: BaseException) -> None:
        if isinstance(exception, SIGTERMException):
            self.signal = signal.SIGTERM
        elif isinstance(exception, KeyboardInterrupt):
            self.signal = signal.SIGINT
        else:
            return
        if trainer.state.fn != TrainerFn.FITTING:
            return
        self.step = trainer.global_step
        if self.save and trainer.world_size == 1:
            self.saver.on_exception(trainer, pl_module, exception)
            self.saved = True

    def teardown(self, trainer, pl_module, stage: str) -> None:
        if self.save:
            self.saver.teardown(trainer, pl_module, stage)

    def stopped(self, overrides: list[str]) -> RunInterrupted:
        """The exception that reports this interrupt: where the checkpoint is and the command that resumes it."""
        assert self.signal is not None
        folder = Path(self.saver.dirpath).resolve()
        if self.step is None:
            return RunInterrupted(self.signal, f"stopped after training finished; its checkpoints are in {folder}")
        if not self.save:
            return RunInterrupted(self.signal, f"stopped at global step {self.step}; the run keeps no checkpoints "
                                               "(callbacks.model_checkpoint or trainer.enable_checkpointing is off)")
        path = Path(self.saver.ckpt_path).resolve() if self.saved else folder / "last.ckpt"
        if not path.is_file():
            return RunInterrupted(self.signal, f"stopped at global step {self.step} of a multi-process run, before "
                                               "its first epoch-end checkpoint: nothing to resume from")
        where = "saved" if self.saved else "a multi-process run saves no more than its epoch-end checkpoint"
        return RunInterrupted(self.signal, f"stopped at global step {self.step}, {where} {path}; "
                                           f"resume with: {resume_command(overrides, path)}", path)
