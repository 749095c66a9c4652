"""Checkpoints the lab can rebuild alone: the resolved config travels inside each checkpoint."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from omegaconf import OmegaConf

from lab.errors import LabError

CONFIG_KEY = "lab_config"
WANDB_ID_KEY = "lab_wandb_run_id"


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint with `weights_only=True`; a missing or corrupt file gets a LabError."""
    path = Path(path)
    if not path.is_file():
        raise LabError(f"checkpoint {path} does not exist; runs keep theirs in <run dir>/checkpoints/")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # torch raises several types for a bad file; its advice would be to load it unsafely
        raise LabError(f"checkpoint {path} cannot be read: the file is truncated or is not a lab checkpoint; "
                       "resume from a checkpoints/last.ckpt or best-*.ckpt written by lab-train") from None


def check_state_matches(model: torch.nn.Module, state: dict[str, torch.Tensor], path: str | Path) -> None:
    """Raise a LabError naming the keys and shapes when a checkpoint's weights do not fit `model`."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    resized = [f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
               for k in own if k in state and own[k].shape != state[k].shape]
    if missing or unexpected or resized:
        parts = []
        if missing:
            parts.append(f"missing {missing[:5]}{' ...' if len(missing) > 5 else ''}")
        if unexpected:
            parts.append(f"unexpected {unexpected[:5]}{' ...' if len(unexpected) > 5 else ''}")
        if resized:
            parts.append(f"shape mismatch {resized[:3]}")
        raise LabError(f"checkpoint {path} does not match the model ({'; '.join(parts)}); "
                       "resume with the experiment and model settings it was trained with")


def load_module(path: str | Path):
    """Rebuild the LightningModule that wrote `path` from its stored config and load its weights."""
    from hydra.utils import instantiate

    checkpoint = read_checkpoint(path)
    if CONFIG_KEY not in checkpoint:
        raise LabError(f"checkpoint {path} has no lab config; it was not written by lab.train")
    cfg = OmegaConf.create(checkpoint[CONFIG_KEY])
    module = instantiate(cfg.model, _convert_="all")
    module.on_load_checkpoint(checkpoint)
    check_state_matches(module, checkpoint["state_dict"], path)
    module.load_state_dict(checkpoint["state_dict"])
    module.eval()
    return module, cfg


@dataclass
class ResumePoint:
    """What a resumed run needs to know of its checkpoint before it starts."""

    path: Path
    epochs_done: int
    global_step: int
    wandb_id: str | None


def _epochs_done(checkpoint: dict) -> int:
    try:
        return int(checkpoint["loops"]["fit_loop"]["epoch_progress"]["current"]["processed"])
    except (KeyError, TypeError):
        return int(checkpoint.get("epoch", 0))


def read_resume_point(path: str | Path, model: torch.nn.Module, trainer_cfg) -> ResumePoint:
    """Read and check a checkpoint to resume from: it must load, fit `model`, and leave something to train under
    the configured trainer.max_epochs / max_steps (and model.total_timesteps for RL); else a LabError."""
    checkpoint = read_checkpoint(path)
    check_state_matches(model, checkpoint.get("state_dict", {}), path)
    point = ResumePoint(Path(path), _epochs_done(checkpoint), int(checkpoint.get("global_step", 0)),
                        checkpoint.get(WANDB_ID_KEY))
    max_epochs = trainer_cfg.get("max_epochs")
    max_steps = trainer_cfg.get("max_steps")
    if max_epochs is not None and max_epochs >= 0 and point.epochs_done >= max_epochs:
        raise LabError(f"checkpoint {path} already reached trainer.max_epochs={max_epochs} ({point.epochs_done} epochs "
                       f"done): nothing left to train; raise it to continue, e.g. trainer.max_epochs={max_epochs * 2}")
    if max_steps is not None and max_steps > 0 and point.global_step >= max_steps:
        raise LabError(f"checkpoint {path} already reached trainer.max_steps={max_steps}: nothing left to train; "
                       f"raise it to continue, e.g. trainer.max_steps={max_steps * 2}")
    env_steps = (checkpoint.get("lab_rl") or {}).get("env_steps")
    total = getattr(model, "hparams", {}).get("total_timesteps")
    if env_steps is not None and total is not None and env_steps >= total:
        raise LabError(f"checkpoint {path} already reached model.total_timesteps={total} ({env_steps} env steps "
                       f"done): nothing left to train; raise it to continue, e.g. model.total_timesteps={total * 2}")
    return point
