"""Chooses W&B's mode: online only when an API key is configured, else offline (never waits on the network)."""

from __future__ import annotations

import logging
import netrc
import os
from pathlib import Path

log = logging.getLogger("lab")


def has_api_key() -> bool:
    """True when W&B could authenticate: WANDB_API_KEY, or api.wandb.ai in ~/.netrc."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    netrc_path = Path(os.environ.get("NETRC", Path.home() / ".netrc"))
    try:
        hosts = netrc.netrc(netrc_path).hosts
    except (FileNotFoundError, netrc.NetrcParseError, OSError):
        return False
    return any("wandb" in host for host in hosts)


def choose_wandb_mode() -> str:
    """Set WANDB_MODE to offline when no key exists and the user chose nothing; return the mode."""
    if os.environ.get("WANDB_MODE"):
        return os.environ["WANDB_MODE"]
    if has_api_key():
        return "online"
    os.environ["WANDB_MODE"] = "offline"
    from pytorch_lightning.utilities import rank_zero_only

    if rank_zero_only.rank == 0:  # under DDP every rank decides, one says so
        log.info("W&B: offline, no API key (`wandb sync <run dir>/wandb/offline-run-*` uploads it later)")
    return "offline"
