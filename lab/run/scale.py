"""What lab.train.run asks of the scale layer before building anything: precision resolved, launch checked.

Hydra multirun (`-m`) and Lightning's DDP launcher do not mix: Lightning re-runs the script once per extra
rank with the same arguments, `-m` included, so every rank would start the whole sweep again. Sweeps run
each trial as its own process instead (scripts/sweep.py), or let SLURM start the ranks (submitit launcher).
"""

from __future__ import annotations

from omegaconf import DictConfig

from lab.errors import LabError
from lab.run.precision import resolve_precision


def _ranks_started_outside() -> bool:
    from pytorch_lightning.plugins.environments import SLURMEnvironment, TorchElasticEnvironment

    return SLURMEnvironment.detect() or TorchElasticEnvironment.detect()


def check_launch(cfg: DictConfig) -> None:
    """Refuse DDP with several local processes inside a Hydra multirun, unless SLURM or torchrun started the ranks."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if not HydraConfig.initialized() or HydraConfig.get().mode != RunMode.MULTIRUN:
        return
    trainer = cfg.get("trainer") or {}
    devices, nodes = trainer.get("devices", 1), trainer.get("num_nodes", 1)
    if "ddp" in str(trainer.get("strategy", "auto")) and (str(devices) not in ("1", "[0]") or nodes != 1) \
            and not _ranks_started_outside():
        raise LabError("Hydra multirun (-m) cannot start DDP processes: Lightning re-runs the script for every rank "
                       "with -m again, so each rank would run the whole sweep. Run the sweep with scripts/sweep.py "
                       "(each trial its own process; trainer=ddp works inside), or send the multirun to SLURM with "
                       "hydra/launcher=submitit_slurm (SLURM starts the ranks).")


def prepare(cfg: DictConfig) -> None:
    resolve_precision(cfg)
    check_launch(cfg)
