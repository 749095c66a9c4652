"""One progress bar with a few short metric names: `loss 0.31  val_acc 0.97`, `return 212  sps 9.1e+03`.

Lightning's RichProgressBar shows every metric logged with `prog_bar=True` under its full name, with every digit,
and an epoch total of `max_epochs - 1` (`Epoch 11/-2` for RL runs that stop on an env-step budget). Here names
are shortened (`train/loss_step` -> `loss`, `val/acc` -> `val_acc`, `perf/env_steps_per_sec` -> `sps`), values
get 3 significant digits, and a module that knows how many epochs it will run (`planned_epochs`, RL) says so.
"""

from __future__ import annotations

import math

from pytorch_lightning.callbacks import RichProgressBar

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


def short_metrics(items: dict[str, object], limit: int = 4) -> dict[str, str]:
    """Shortened names and formatted values; of `x_step` and `x_epoch` only the step value is kept."""
    shown: dict[str, str] = {}
    for key, value in items.items():
        if key == "v_num" or (key.endswith("_epoch") and key[: -len("_epoch")] + "_step" in items):
            continue
        if len(shown) >= limit:
            break
        shown[short_name(key)] = _format(value)
    return shown


class LabProgressBar(RichProgressBar):
    BAR_WIDTH = 24  # Lightning's 40 (and its it/s column) leave the metrics too little room on 100-120 columns

    def configure_columns(self, trainer) -> list:
        columns = [c for c in super().configure_columns(trainer) if type(c).__name__ != "ProcessingSpeedColumn"]
        for column in columns:
            if hasattr(column, "bar_width"):
                column.bar_width = self.BAR_WIDTH
        return columns

    def get_metrics(self, trainer, pl_module) -> dict[str, str]:
        return short_metrics(super().get_metrics(trainer, pl_module))

    def _get_train_description(self, current_epoch: int) -> str:  # Lightning's (private) hook for the label
        planned = getattr(self.trainer.lightning_module, "planned_epochs", None)
        max_epochs = self.trainer.max_epochs
        total = planned if (max_epochs is None or max_epochs < 0) and planned else max_epochs
        return f"Epoch {current_epoch + 1}/{total}" if total and total > 0 else f"Epoch {current_epoch + 1}"

    @property
    def total_train_batches(self) -> int | float:
        total = super().total_train_batches
        per_epoch = getattr(self.trainer.lightning_module, "batches_per_epoch", None)
        return per_epoch if math.isinf(total) and per_epoch else total
