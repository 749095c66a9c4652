"""Says plainly when the requested precision cannot run as asked: fp16 AMP (`16-mixed`) needs a GPU.

On CPU Lightning quietly runs `16-mixed` as `bf16-mixed`; the lab rewrites the config to what will
actually run (so config.yaml and W&B record the truth) and prints one warning, on rank 0 only.
"""

from __future__ import annotations

import logging

import torch
from omegaconf import DictConfig, open_dict
from pytorch_lightning.utilities.rank_zero import rank_zero_only

log = logging.getLogger("lab")
FP16_MIXED = ("16-mixed", "16", 16)
_said: set[str] = set()


def _runs_on_gpu(accelerator: str) -> bool:
    if accelerator in ("gpu", "cuda"):
        return True
    return accelerator == "auto" and torch.cuda.is_available()


def resolve_precision(cfg: DictConfig) -> str | None:
    """Replace trainer.precision=16-mixed by bf16-mixed when the run has no GPU; return the precision that runs."""
    trainer = cfg.get("trainer")
    if not trainer or "precision" not in trainer:
        return None
    precision = trainer.precision
    if precision in FP16_MIXED and not _runs_on_gpu(str(trainer.get("accelerator", "auto"))):
        message = ("trainer.precision=16-mixed needs a GPU (fp16 autocast does not exist on CPU); "
                   "this run uses bf16-mixed instead. Set trainer.precision=bf16-mixed to silence this.")
        if rank_zero_only.rank == 0 and message not in _said:
            _said.add(message)
            log.warning(message)
        with open_dict(trainer):
            trainer.precision = "bf16-mixed"
        return "bf16-mixed"
    return str(precision)
