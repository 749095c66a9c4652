"""The one way to run an experiment: config -> objects -> Trainer.fit/test -> metrics.json.

`python scripts/train.py experiment=NAME key=value ...` calls `main`; tests, sweeps and benchmarks
call `run_experiment(overrides, output_dir)` and use the metrics dict it returns.
"""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

import hydra
import pytorch_lightning as pl
from hydra.utils import instantiate
from pytorch_lightning.callbacks import ProgressBar
from pytorch_lightning.loggers import WandbLogger
from omegaconf import DictConfig, OmegaConf

from lab.callbacks import ConfigInCheckpoint
from lab.checkpoint import check_state_matches, read_checkpoint
from lab.config_checks import check_config
from lab.errors import LabError
from lab.scale.prepare import prepare as prepare_scale
from lab.wandb_mode import choose_wandb_mode

CONF_DIR = Path(__file__).resolve().parent.parent / "conf"
log = logging.getLogger("lab")


def _build(node: DictConfig, **extra):
    """`instantiate`, except that a LabError raised inside (bad env id, bad shape, ...) reaches the user unwrapped."""
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


def _build_loggers(cfg: DictConfig) -> list:
    group = cfg.get("logger")
    if group and any("Wandb" in str(node.get("_target_", "")) for node in group.values() if node):
        choose_wandb_mode()
    return _instantiate_group(group)


def _flat_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    flat = {}
    for key, value in metrics.items():
        try:
            flat[key] = float(value)
        except (TypeError, ValueError):
            continue
    return flat


@contextlib.contextmanager
def _frozen_heap():
    """Keep the ~400k objects that exist before fitting (torch, Lightning, Hydra, the model) out of Python's
    garbage collector while it fits: a full collection over them pauses training for ~0.2 s on a 2-core CPU."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _check_resume(ckpt_path: str, model: pl.LightningModule) -> None:
    checkpoint = read_checkpoint(ckpt_path)
    check_state_matches(model, checkpoint.get("state_dict", {}), ckpt_path)


def run(cfg: DictConfig) -> dict[str, float]:
    """Fit (and test) the experiment described by `cfg`; write metrics.json; return the metrics."""
    check_config(cfg)
    prepare_scale(cfg)
    output_dir = Path(cfg.paths.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    pl.seed_everything(cfg.seed, workers=True, verbose=False)

    datamodule = _build(cfg.data) if cfg.get("data") else None
    model = _build(cfg.model)
    resolved = OmegaConf.to_container(cfg, resolve=True)
    callbacks = _instantiate_group(cfg.get("callbacks")) + [ConfigInCheckpoint(resolved)]
    if not cfg.trainer.get("enable_progress_bar", True):
        callbacks = [c for c in callbacks if not isinstance(c, ProgressBar)]
    loggers = _build_loggers(cfg)
    trainer: pl.Trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False,
                                      default_root_dir=str(output_dir))
    if trainer.is_global_zero:
        OmegaConf.save(cfg, output_dir / "config.yaml", resolve=True)
    for logger in loggers:
        logger.log_hyperparams(resolved)

    ckpt_path = cfg.get("ckpt_path")
    if ckpt_path:
        _check_resume(ckpt_path, model)

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
            trainer.test(model, datamodule=datamodule, ckpt_path=best, weights_only=True)
            metrics.update(_flat_metrics(trainer.callback_metrics))

    if trainer.is_global_zero:
        with open(output_dir / "metrics.json", "w") as f:
            json.dump(dict(sorted(metrics.items())), f, indent=2)
    for logger in loggers:
        if isinstance(logger, WandbLogger) and trainer.is_global_zero:
            logger.experiment.summary.update(metrics)
            logger.experiment.finish()
    return metrics


def compose_config(overrides: list[str] | tuple[str, ...] = (), output_dir: str | Path | None = None) -> DictConfig:
    """Compose `conf/train.yaml` with overrides, as the command line would, without running anything."""
    from hydra import compose, initialize_config_dir

    overrides = list(overrides)
    if output_dir is not None:
        overrides.append(f"paths.output_dir={Path(output_dir).resolve()}")
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name="train", overrides=overrides)


def run_experiment(overrides: list[str] | tuple[str, ...] = (), output_dir: str | Path = "outputs/api") -> dict[str, float]:
    """Compose and run in this process; what tests, sweeps and benchmarks call."""
    return run(compose_config(overrides, output_dir))


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="train")
def _hydra_main(cfg: DictConfig) -> float | None:
    try:
        metrics = run(cfg)
    except LabError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    log.info("metrics: %s", json.dumps({k: round(v, 4) for k, v in metrics.items()}))
    print(json.dumps({k: round(v, 4) for k, v in metrics.items() if not k.startswith("time/")}, indent=1))
    objective = cfg.get("optimized_metric")
    return metrics.get(objective) if objective else None


def main() -> None:
    """Console entry point (`lab-train`, `scripts/train.py`)."""
    _hydra_main()


if __name__ == "__main__":
    main()
