"""Checkpoints the lab can rebuild alone: the resolved config travels inside each checkpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from omegaconf import OmegaConf

from lab.errors import LabError

CONFIG_KEY = "lab_config"


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint with `weights_only=True`; a missing or corrupt file gets a LabError."""
    path = Path(path)
    if not path.is_file():
        raise LabError(f"checkpoint {path} does not exist; runs keep theirs in <run dir>/checkpoints/")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several types for a bad file
        reason = (str(error).strip().splitlines() or [""])[0][:160]
        raise LabError(f"checkpoint {path} cannot be read ({type(error).__name__}: {reason}); "
                       "it may be truncated or not a Lightning checkpoint") from None


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
