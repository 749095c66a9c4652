"""Per-step training scalars, logged as `self.log(name, v, on_step=True, on_epoch=True)` would, for less.

Logging a value on every step costs Lightning about 0.2 ms on CPU (a LeNet step on mnist5k is ~8 ms):
it updates its result collection and recomputes the progress-bar and callback metrics each step, though
its loggers write only every `trainer.log_every_n_steps` steps. `TrainLog` keeps the epoch mean itself
(a running sum weighted by batch size, as Lightning's is) and hands Lightning the step value only on the
steps its loggers write. The names are Lightning's: `{name}_step` and `{name}_epoch` for the loggers, and
`{name}` (the epoch mean) in `trainer.callback_metrics`; the epoch mean is averaged over DDP ranks.
"""

from __future__ import annotations

import pytorch_lightning as pl
import torch


class TrainLog:
    def __init__(self) -> None:
        self._sums: dict[str, list] = {}
        self._prog_bar: dict[str, bool] = {}

    def step(self, module: pl.LightningModule, name: str, value: torch.Tensor, batch_size: int,
             prog_bar: bool = False) -> None:
        """Add `value` to this epoch's mean of `name`; log it as `{name}_step` when the loggers will write."""
        value = value.detach().float()
        if name in self._sums:
            self._sums[name][0] += value * batch_size
            self._sums[name][1] += batch_size
        else:
            self._sums[name] = [value * batch_size, batch_size]
            self._prog_bar[name] = prog_bar
        trainer = module.trainer
        if (trainer.global_step + 1) % trainer.log_every_n_steps == 0 or trainer.fast_dev_run:
            module.log(f"{name}_step", value, on_step=True, on_epoch=False, prog_bar=prog_bar)

    def epoch_end(self, module: pl.LightningModule) -> None:
        """Log each scalar's epoch mean as `{name}_epoch` (call from `on_train_epoch_end`) and start afresh."""
        for name, (total, count) in self._sums.items():
            mean = total / count
            module.log(f"{name}_epoch", mean, prog_bar=self._prog_bar[name], sync_dist=True)
            module.log(name, mean, logger=False, sync_dist=True)
        self._sums.clear()
