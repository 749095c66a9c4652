"""Silences the named warnings and tips that are only noise, so a user sees the progress bar and the metrics.

Nothing happens on import: the lab's own entry points (`lab-train`, `run_experiment`, the other console
commands) call `install()`. Only the messages listed here are filtered; any other warning, a real deprecation
in the user's code included, stays visible.
"""

from __future__ import annotations

import logging
import os
import warnings

_ENV = {"HYDRA_FULL_ERROR": "0", "WANDB_SILENT": "true", "PYGAME_HIDE_SUPPORT_PROMPT": "1", "MPLBACKEND": "Agg"}

_NOISE = [
    r".*pytree.*",
    r".*is smaller than the logging interval.*",
    r".*does not have many workers.*",
    r".*num_workers.*",
    r".*GPU available but not used.*",
    r".*LeafSpec.*",
    r".*treespec.*",
    r".*Checkpoint directory .* exists and is not empty.*",
    r".*torch.load.*weights_only.*",
    r".*The `srun` command is available.*",
    r".*Experiment logs directory .* exists and is not empty.*",
    r"(?s).*hydra/launcher/submitit_slurm' is validated against ConfigStore schema.*",
    r".*Starting from v1.9.0, `tensorboardX` has been removed.*",
    r".*The anonymous setting has no effect.*",
    r".*`isinstance\(treespec, LeafSpec\)` is deprecated.*",
    r".*pkg_resources is deprecated.*",
    r".*jax.xla_computation is deprecated.*",
    # DDP: the lab logs per-rank values (perf/rank_*) on purpose; a test under DDP sees each sample at least once
    r"It is recommended to use `self.log\('.*', \.\.\., sync_dist=True\)` when logging on epoch level in "
    r"distributed setting to accumulate the metric across devices",
    r"Using `DistributedSampler` with the dataloaders. During `trainer.test\(\)`, it is recommended to use "
    r"`Trainer\(devices=1, num_nodes=1\)`",
    # a resume from checkpoints/interrupted.ckpt is mid-epoch by design; lab.callbacks.run_log says so in its line
    r"You're resuming from a checkpoint that ended before the epoch ended and your dataloader is not resumable",
]

# Lightning's start-up lines about accelerators it is not using, its advertising tips, and its two lines per
# checkpoint it restores (lab.callbacks.run_log says the same in one).
_DROPPED_LOG_LINES = ("GPU available:", "TPU available:", "HPU available:", "IPU available:", "Tip:",
                      "litlogger", "LitLogger", "You are using a CUDA device",
                      "Restoring states from the checkpoint path at ", "Loaded model weights from the checkpoint at ",
                      "Restored all states from the checkpoint at ",
                      "Initializing distributed: GLOBAL_RANK: ", "All distributed processes registered. Starting with ")
_LIGHTNING_LOGGERS = ("pytorch_lightning", "lightning", "lightning.pytorch", "lightning_fabric",
                      "pytorch_lightning.utilities.rank_zero", "lightning.fabric.utilities.rank_zero",
                      "lightning_fabric.utilities.rank_zero", "pytorch_lightning.accelerators.cuda",
                      "lightning_fabric.utilities.distributed")


class _DropNoise(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(part in message for part in _DROPPED_LOG_LINES)


_installed = False


def install() -> None:
    """Filter the listed warnings and log lines (once per process); set the environment defaults above."""
    global _installed
    for key, value in _ENV.items():
        os.environ.setdefault(key, value)
    if _installed:
        return
    _installed = True
    for pattern in _NOISE:
        warnings.filterwarnings("ignore", message=pattern)
    for name in _LIGHTNING_LOGGERS:
        logging.getLogger(name).addFilter(_DropNoise())
