"""The one way to run an experiment: config -> objects -> Trainer.fit/test -> metrics.json.

`lab-train experiment=NAME key=value ...` (or `python scripts/train.py ...`) calls `main`; tests, sweeps and
benchmarks call `run_experiment(overrides, output_dir)` and use the metrics dict it returns.

Every check that can refuse a run (config values, the checkpoint to resume, the data files) happens before
anything is written: a refused run leaves no run directory and no W&B run behind.
"""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import hydra
from omegaconf import DictConfig, OmegaConf

from lab.errors import LabError
from lab.run import quiet
from lab.run.config_checks import check_config, check_overrides
from lab.run.resources import CONF_DIR
from lab.run.run_dir import new_run_dir, remove_if_unused, resume_run_dir

if TYPE_CHECKING:  # torch, Lightning and the models load when a run starts, so `lab-train --help` answers at once
    import pytorch_lightning as pl

    from lab.run.checkpoint import ResumePoint

log = logging.getLogger("lab")


def _build(node: DictConfig, **extra):
    """`instantiate`, except that a LabError raised inside (bad env id, bad shape, ...) reaches the user unwrapped."""
    from hydra.utils import instantiate

    try:
        return instantiate(node, _convert_="all", **extra)
    except Exception as error:  # Hydra wraps it in InstantiationException
        if isinstance(error.__cause__, LabError):
            raise error.__cause__ from None
        raise


def _instantiate_group(group: DictConfig | None, **extra) -> list:
    """Instantiate every entry of a dict-of-configs group (callbacks, loggers); `null` entries are skipped."""
    if not group:
        return []
    return [_build(node, **extra) for node in group.values() if node is not None and "_target_" in node]


def _build_loggers(cfg: DictConfig, resume: ResumePoint | None) -> list:
    """The configured loggers; a resumed run continues the W&B run its checkpoint was logged to (same id)."""
    group = cfg.get("logger")
    if not group:
        return []
    loggers = []
    for node in group.values():
        if node is None or "_target_" not in node:
            continue
        if "Wandb" in str(node.get("_target_", "")):
            from lab.run.wandb_mode import choose_wandb_mode

            choose_wandb_mode()
            run_id = resume.wandb_id if resume else None
            loggers.append(_build(node, **({"id": run_id, "resume": "allow"} if run_id else {})))
        else:
            loggers.append(_build(node))
    return loggers


def _flat_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    flat = {}
    for key, value in metrics.items():
        try:
            flat[key] = float(value)
        except (TypeError, ValueError):
            continue
    return flat


@contextlib.contextmanager
def _reported(interrupt, overrides: list[str]):
    """Turn the ways Lightning ends on a signal (SIGTERMException, an exit after Ctrl+C) into RunInterrupted."""
    try:
        yield
    except BaseException:
        if interrupt.signal is None:
            raise
        raise interrupt.stopped(overrides) from None


@contextlib.contextmanager
def _frozen_heap():
    """Keep the ~400k objects that exist before fitting (torch, Lightning, Hydra, the model) out of Python's
    garbage collector while it fits: a full collection over them pauses training for ~0.2 s on a 2-core CPU."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _check_data(datamodule: pl.LightningDataModule | None) -> None:
    """Read the data now, so a missing or corrupt file is refused before the run writes anything."""
    if datamodule is not None:
        datamodule.prepare_data()
        datamodule.setup("fit")


def _end_process_group() -> None:
    """Destroy the process group a DDP run started, once every rank is done with it. Lightning destroys only an
    NCCL group; a process that exits with a gloo group alive can abort (`terminate called without an active
    exception`, exit 134) while the group's worker threads are torn down with the interpreter."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def _interrupt_checkpoint(callbacks: list, trainer_cfg: DictConfig, output_dir: Path):
    """The callback that saves `checkpoints/interrupted.ckpt` on SIGTERM or Ctrl+C beside the run's ModelCheckpoint,
    or only reports the signal in a run that keeps no checkpoints."""
    from pytorch_lightning.callbacks import ModelCheckpoint

    from lab.run.interrupt import InterruptCheckpoint

    keeper = next((c for c in callbacks if isinstance(c, ModelCheckpoint)), None)
    save = keeper is not None and keeper.dirpath is not None and trainer_cfg.get("enable_checkpointing", True)
    return InterruptCheckpoint(keeper.dirpath if save else output_dir / "checkpoints", save=save)


def run(cfg: DictConfig, overrides: list[str] | tuple[str, ...] = ()) -> dict[str, float]:
    """Fit (and test) the experiment described by `cfg`; write metrics.json; return the metrics. On SIGTERM or
    Ctrl+C it saves the step reached and raises `lab.run.interrupt.RunInterrupted`, whose message gives the command
    that resumes the run (`overrides` plus its ckpt_path)."""
    import pytorch_lightning as pl
    from hydra.utils import instantiate
    from pytorch_lightning.callbacks import ProgressBar
    from pytorch_lightning.loggers import WandbLogger

    from lab.callbacks import ConfigInCheckpoint
    from lab.run import fast_lightning
    from lab.run.checkpoint import read_resume_point
    from lab.run.scale import prepare as prepare_scale

    quiet.install()
    check_config(cfg)
    prepare_scale(cfg)
    pl.seed_everything(cfg.seed, workers=True, verbose=False)

    datamodule = _build(cfg.data) if cfg.get("data") else None
    model = _build(cfg.model)
    ckpt_path = cfg.get("ckpt_path")
    resume = read_resume_point(ckpt_path, model, cfg.trainer) if ckpt_path else None
    _check_data(datamodule)

    output_dir = Path(cfg.paths.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    resolved = OmegaConf.to_container(cfg, resolve=True)
    callbacks = _instantiate_group(cfg.get("callbacks")) + [ConfigInCheckpoint(resolved)]
    if not cfg.trainer.get("enable_progress_bar", True):
        callbacks = [c for c in callbacks if not isinstance(c, ProgressBar)]
    interrupt = _interrupt_checkpoint(callbacks, cfg.trainer, output_dir)
    callbacks.append(interrupt)
    loggers = _build_loggers(cfg, resume)
    trainer: pl.Trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False,
                                      default_root_dir=str(output_dir))
    if trainer.is_global_zero:
        OmegaConf.save(cfg, output_dir / "config.yaml", resolve=True)
    for logger in loggers:
        logger.log_hyperparams(resolved)

    with fast_lightning.patched(cfg.get("trainer_patches", True)), _reported(interrupt, list(overrides)):
        start = time.perf_counter()
        with _frozen_heap():
            trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
        metrics = _flat_metrics(trainer.callback_metrics)
        metrics["time/fit_seconds"] = time.perf_counter() - start
        metrics["trainer/global_step"] = float(trainer.global_step)

        if cfg.get("test") and not trainer.interrupted:
            has_test = datamodule is not None or type(model).test_dataloader is not pl.LightningModule.test_dataloader
            if has_test and type(model).test_step is not pl.LightningModule.test_step:
                best = getattr(trainer.checkpoint_callback, "best_model_path", "") or None
                trainer.test(model, datamodule=datamodule, ckpt_path=best, weights_only=True, verbose=False)
                metrics.update(_flat_metrics(trainer.callback_metrics))

    if trainer.is_global_zero:
        with open(output_dir / "metrics.json", "w") as f:
            json.dump(dict(sorted(metrics.items())), f, indent=2)
    for logger in loggers:
        if isinstance(logger, WandbLogger) and trainer.is_global_zero:
            logger.experiment.summary.update(metrics)
            logger.experiment.finish()
    _end_process_group()
    return metrics


def compose_config(overrides: list[str] | tuple[str, ...] = (), output_dir: str | Path | None = None) -> DictConfig:
    """Compose `conf/train.yaml` with overrides, as the command line would, without running anything.
    An unknown key is a LabError that suggests the closest existing keys."""
    from hydra import compose, initialize_config_dir

    overrides = list(overrides)
    if output_dir is not None:
        overrides.append(f"paths.output_dir={Path(output_dir).resolve()}")
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            return compose(config_name="train", overrides=overrides)
    except Exception:
        check_overrides(overrides)  # raises the lab's message when a key is misspelt
        raise


def run_experiment(overrides: list[str] | tuple[str, ...] = (), output_dir: str | Path | None = None) -> dict[str, Any]:
    """Compose and run in this process; what tests, sweeps and benchmarks call. Returns the metrics and, under
    "run_dir", the run directory (a string): `output_dir` when given; the checkpoint's own run directory when
    `ckpt_path=` resumes a run; else a new `outputs/<name>/<date>_<time>`, as `lab-train` makes, one per call."""
    quiet.install()
    overrides = list(overrides)
    if output_dir is None:
        ckpt = next((o.split("=", 1)[1] for o in overrides if o.startswith("ckpt_path=")), None)
        output_dir = resume_run_dir(ckpt) if ckpt else None
    if output_dir is not None:
        cfg = compose_config(overrides, output_dir)
        metrics: dict[str, Any] = run(cfg, overrides)
    else:
        cfg = compose_config(overrides)
        new = new_run_dir(cfg.name)
        cfg.paths.output_dir = str(new)
        try:
            metrics = run(cfg, overrides)
        finally:
            remove_if_unused(new, ())  # a refused run leaves no empty folder behind
    metrics["run_dir"] = str(cfg.paths.output_dir)
    return metrics


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="train")
def _hydra_main(cfg: DictConfig) -> float | None:
    from hydra.core.hydra_config import HydraConfig

    from lab.run.interrupt import RunInterrupted

    output_dir = Path(cfg.paths.output_dir)
    hydra_files = (".hydra", f"{HydraConfig.get().job.name}.log")
    try:
        metrics = run(cfg, list(HydraConfig.get().overrides.task))
    except LabError as error:
        remove_if_unused(output_dir, hydra_files)
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    except RunInterrupted as stop:
        print(stop, file=sys.stderr, flush=True)
        sys.exit(stop.exit_code)
    except KeyboardInterrupt:  # before fitting started or after it ended: nothing to resume
        remove_if_unused(output_dir, hydra_files)
        print("SIGINT: stopped outside training; nothing was saved", file=sys.stderr)
        sys.exit(130)
    from pytorch_lightning.utilities import rank_zero_only

    from lab.run.summary import print_metrics

    if rank_zero_only.rank == 0:
        print_metrics(metrics, output_dir / "metrics.json")
    objective = cfg.get("optimized_metric")
    return metrics.get(objective) if objective else None


def _prepare_argv(argv: list[str]) -> list[str]:
    """Check the command line's keys before Hydra does (its hint for a misspelt key is misleading), and resume
    in the checkpoint's own run directory unless `hydra.run.dir=` names another."""
    if any(w.startswith("-") and w not in ("-m", "--multirun") for w in argv):
        return argv  # --help, --cfg, --config-name, ...: Hydra's own options, left to Hydra
    words = [w for w in argv if "=" in w or w.startswith("~")]
    check_overrides(words)
    ckpt = next((w.split("=", 1)[1] for w in words if w.startswith("ckpt_path=")), None)
    if ckpt and not any(w.startswith("hydra.run.dir=") for w in words):
        run_dir = resume_run_dir(ckpt)
        if run_dir is not None:  # and keep the run's own .hydra record of how it was started
            argv = [*argv, f"hydra.run.dir={run_dir}", "hydra.output_subdir=null"]
    return argv


def main() -> None:
    """Console entry point (`lab-train`, `scripts/train.py`)."""
    quiet.install()
    try:
        sys.argv[1:] = _prepare_argv(sys.argv[1:])
    except LabError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    _hydra_main()


if __name__ == "__main__":
    main()
