"""Says plainly when the requested precision cannot run as asked: fp16 AMP (`16-mixed`) needs a GPU.

On CPU Lightning quietly runs `16-mixed` as `bf16-mixed`; the lab rewrites the config to what will
actually run (so config.yaml and W&B record the truth) and prints one warning, on rank 0 only.
Lightning refuses to clip gradients of a fused optimizer (`fused: true` Adam) under mixed precision, so the lab
turns `fused` off, and says so, where Lightning would clip: under fp16 (its GradScaler must unscale first) and
wherever `trainer.gradient_clip_val` is set. The RL modules clip bf16 gradients themselves and keep `fused`.
"""

from __future__ import annotations

import logging

import torch
from omegaconf import DictConfig, open_dict
from pytorch_lightning.utilities.rank_zero import rank_zero_only

log = logging.getLogger("lab")
FP16_MIXED = ("16-mixed", "16", 16)
MIXED = ("16-mixed", "bf16-mixed", "16", 16, "bf16")
_said: set[str] = set()


def _say_once(message: str) -> None:
    if rank_zero_only.rank == 0 and message not in _said:
        _said.add(message)
        log.warning(message)


def _unfuse_optimizers(cfg: DictConfig, precision: str) -> None:
    model = cfg.get("model")
    if not isinstance(model, DictConfig):
        return
    for key in model.keys():
        node = model._get_node(key)
        if isinstance(node, DictConfig) and "optimizer" in str(key) and node.get("fused"):
            _say_once(f"model.{key}.fused=true cannot be combined with Lightning's gradient clipping under "
                      f"{precision} (Lightning refuses it); this run uses model.{key}.fused=false.")
            with open_dict(node):
                node.fused = False


def _runs_on_gpu(accelerator: str) -> bool:
    if accelerator in ("gpu", "cuda"):
        return True
    return accelerator == "auto" and torch.cuda.is_available()


def resolve_precision(cfg: DictConfig) -> str | None:
    """Make the config say what will run (16-mixed without a GPU -> bf16-mixed; no fused optimizer where
    Lightning clips mixed-precision gradients), warning once for each change; return the precision that runs."""
    trainer = cfg.get("trainer")
    if not trainer or "precision" not in trainer:
        return None
    precision = trainer.precision
    if precision in FP16_MIXED and not _runs_on_gpu(str(trainer.get("accelerator", "auto"))):
        _say_once("trainer.precision=16-mixed needs a GPU (fp16 autocast does not exist on CPU); "
                  "this run uses bf16-mixed instead. Set trainer.precision=bf16-mixed to silence this.")
        with open_dict(trainer):
            trainer.precision = precision = "bf16-mixed"
    if precision in FP16_MIXED or (precision in MIXED and trainer.get("gradient_clip_val")):
        _unfuse_optimizers(cfg, str(precision))
    return str(precision)
