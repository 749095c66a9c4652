"""One progress bar on one line, with a few short metric names: `loss: 0.31 val_acc: 0.97`, `return: 212 sps: 9100`.

Lightning's RichProgressBar shows every metric logged with `prog_bar=True` under its full name, counts epochs
from 0 (`Epoch 9/9` for the tenth of ten), and for an epoch of unknown length (an RL rollout, an iterable
loader) reads `1/-- 0:00:01 • -:--:--`. Here:

- names are shortened (`train/loss_step` -> `loss`, `val/acc` -> `val_acc`, `perf/env_steps_per_sec` -> `sps`),
  values get 3 significant digits, and only the metrics that fit the terminal's width are shown;
- epochs count from 1, as checkpoint names do (`Epoch 10/10`, `best-epoch010-...`);
- a module that knows how many epochs its budget takes (`planned_epochs`: RL, whose epochs are one rollout each)
  gets one bar for the whole run (`Epoch 34/50 ━━━━━━━━ 0:12<0:05`); an epoch of unknown length shows the
  batches done and the time spent, with no placeholder;
- when an epoch ends the bar shows that epoch's values (its means, logged in the module's `on_train_epoch_end`,
  which Lightning calls after the callbacks' hook of the same name).
"""

from __future__ import annotations

import math

from pytorch_lightning.callbacks import RichProgressBar
from rich.progress import BarColumn, ProgressColumn, TextColumn
from rich.text import Text

RENAMED = {"return_mean": "return", "env_steps_per_sec": "sps", "grad_steps_per_sec": "grad_sps",
           "samples_per_sec": "samples/s", "episode_length": "ep_len", "policy_loss": "pi_loss",
           "value_loss": "v_loss", "game_score": "score", "frames_per_sec": "fps"}
SILENT_STAGES = ("train", "perf", "time")


def short_name(key: str) -> str:
    """`train/loss_step` -> `loss`, `val/acc` -> `val_acc`, `eval/return_mean` -> `eval_return`."""
    stage, _, name = key.rpartition("/")
    for suffix in ("_step", "_epoch"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    name = RENAMED.get(name, name)
    return name if stage in ("", *SILENT_STAGES) else f"{stage.replace('/', '_')}_{name}"


def _format(value: object) -> str:
    if not isinstance(value, float):
        return str(value)
    return f"{value:.0f}" if abs(value) >= 1000 else f"{value:.3g}"


def short_metrics(items: dict[str, object], limit: int = 4, width: int | None = None,
                  epoch_over: bool = False) -> dict[str, str]:
    """Shortened names and formatted values, at most `limit` of them and as many as fit in `width` characters
    (`name: value`, space-separated): training's first (`loss`, `return`), then the other stages' (`val_acc`).
    Of `x_step` and `x_epoch` one is kept: the step value while an epoch runs, the epoch mean once it is over."""
    drop = "_step" if epoch_over else "_epoch"
    keep = "_epoch" if epoch_over else "_step"
    shown: dict[str, str] = {}
    used = -1
    for key, value in sorted(items.items(), key=lambda item: item[0].rpartition("/")[0] not in ("", *SILENT_STAGES)):
        if key == "v_num" or (key.endswith(drop) and key[: -len(drop)] + keep in items):
            continue
        name, text = short_name(key), _format(value)
        cost = len(name) + len(text) + 3
        if len(shown) >= limit or (width is not None and used + cost > width):
            break
        shown[name] = text
        used += cost
    return shown


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


class CountColumn(ProgressColumn):
    """`34/50`, or `34` when the total is unknown; nothing for a task whose description already counts."""

    def render(self, task) -> Text:
        if task.fields.get("counted"):
            return Text()
        done = int(task.completed)
        return Text(f"{done}/{int(task.total)}" if task.total and math.isfinite(task.total) else f"{done}")


class ClockColumn(ProgressColumn):
    """Time spent and, while rich can estimate it, time left: `1:05<0:40` (tqdm's notation), or `1:05`."""

    def render(self, task) -> Text:
        elapsed = task.finished_time if task.finished else task.elapsed
        spent = _clock(elapsed or 0)
        remaining = task.time_remaining if not task.finished and task.total and math.isfinite(task.total) else None
        return Text(spent if remaining is None else f"{spent}<{_clock(remaining)}", style="dim")


class LabProgressBar(RichProgressBar):
    """Lightning's RichProgressBar, fitted to one line (see the module docstring)."""

    BAR_WIDTH = 24  # at 120 columns; narrower terminals get a narrower bar, down to MIN_BAR_WIDTH
    MIN_BAR_WIDTH = 8
    MAX_METRICS = 4

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.shown: dict[str, str] = {}  # what the bar shows now (for tests and callbacks)
        self._epoch_over = False

    # ----- the line's layout --------------------------------------------------------------------------------
    def _width(self) -> int:
        console = getattr(self, "_console", None)
        return console.width if console is not None else 80

    def _bar_width(self) -> int:
        return max(self.MIN_BAR_WIDTH, min(self.BAR_WIDTH, (self._width() - 64) // 2))

    def configure_columns(self, trainer) -> list:
        return [TextColumn("[progress.description]{task.description}"),
                BarColumn(bar_width=self._bar_width()), CountColumn(), ClockColumn()]

    def _metrics_room(self) -> int:
        """Columns left for the metrics: the width less the description, bar, count and clock (and a space each)."""
        tasks = self.progress.tasks if self.progress is not None else []
        task = next((t for t in tasks if t.id == self.train_progress_bar_id), None)
        description = len(task.description) if task is not None else 12
        total = task.total if task is not None and task.total and math.isfinite(task.total) else 99999
        count = 0 if task is not None and task.fields.get("counted") else 2 * len(str(int(total))) + 2
        clock = 2 * len(_clock(task.elapsed or 0) if task is not None else "0:00") + 1
        return self._width() - (description + self._bar_width() + count + clock + 3) - 1

    def get_metrics(self, trainer, pl_module) -> dict[str, str]:
        return short_metrics(super().get_metrics(trainer, pl_module), self.MAX_METRICS, self._metrics_room(),
                             self._epoch_over)

    def _update_metrics(self, trainer, pl_module) -> None:  # Lightning's, keeping what it hands the bar
        if self.is_enabled and self._metric_component is not None:
            self.shown = self.get_metrics(trainer, pl_module)
            self._metric_component.update(self.shown)

    # ----- epochs -------------------------------------------------------------------------------------------
    def _planned_epochs(self) -> int | None:
        """The run's epochs when the module plans them (RL: an env-step budget, max_epochs=-1), else None."""
        planned = getattr(self.trainer.lightning_module, "planned_epochs", None)
        max_epochs = self.trainer.max_epochs
        return planned if (max_epochs is None or max_epochs < 0) and planned else None

    def _get_train_description(self, current_epoch: int) -> str:  # Lightning's (private) hook for the label
        total = self._planned_epochs() or self.trainer.max_epochs
        return f"Epoch {current_epoch + 1}/{total}" if total and total > 0 else f"Epoch {current_epoch + 1}"

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        if self._epoch_over:  # the epoch before this one: its means were logged after the bar's epoch-end hook
            self._update_metrics(trainer, pl_module)
            self.refresh()
        self._epoch_over = False
        planned = self._planned_epochs()
        if planned is None or self.is_disabled:
            super().on_train_epoch_start(trainer, pl_module)
            return
        description = self._get_train_description(trainer.current_epoch)
        if self.progress is not None:
            if self.train_progress_bar_id is None:
                self.train_progress_bar_id = self.progress.add_task(description, total=planned,
                                                                    completed=trainer.current_epoch, counted=True)
            else:
                self.progress.update(self.train_progress_bar_id, description=description, total=planned)
        self.refresh()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self._planned_epochs() is None or self.is_disabled:
            super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
            return
        self._update(self.train_progress_bar_id, trainer.current_epoch + 1)  # an RL epoch is one batch
        self._update_metrics(trainer, pl_module)
        self.refresh()

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        super().on_train_epoch_end(trainer, pl_module)
        self._epoch_over = True

    def on_train_end(self, trainer, pl_module) -> None:
        self._update_metrics(trainer, pl_module)  # the last epoch's means, logged after on_train_epoch_end
        self.refresh(hard=True)
