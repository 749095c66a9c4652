"""Silences warnings and tips that are only noise, so a user sees the progress bar and metrics."""

import logging
import os
import warnings

os.environ.setdefault("HYDRA_FULL_ERROR", "0")
os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

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
]
for pattern in _NOISE:
    warnings.filterwarnings("ignore", message=pattern)
warnings.filterwarnings("ignore", category=DeprecationWarning)


class _DropTips(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not ("Tip:" in message or "litlogger" in message or "LitLogger" in message)


for name in ("pytorch_lightning", "lightning", "lightning.pytorch", "lightning_fabric",
             "pytorch_lightning.utilities.rank_zero", "lightning.fabric.utilities.rank_zero"):
    logging.getLogger(name).addFilter(_DropTips())
