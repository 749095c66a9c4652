"""Optimisers and learning-rate schedules from config partials, the same for every family.

- Weight decay falls on matrices only: a parameter of two or more dimensions is decayed unless an `nn.Embedding`
  holds it; biases, norm gains and embeddings (a weight tied between an embedding and an output layer included)
  are not. A tensor shared by several layers appears once. With `weight_decay` 0 all parameters form one group.
- `model.optimizer.scale_lr=linear` multiplies the lr by global batch / `model.optimizer.reference_batch`
  (Goyal et al. 2017), global batch = data batch size x devices x nodes x accumulate_grad_batches. Neither key
  reaches torch's constructor.
- `model.scheduler=warmup_cosine` (`warmup_cosine` below) steps every optimiser step; any other torch scheduler
  given as a partial steps once per epoch. Families that step their optimisers by hand call `step_schedulers`.
"""

from __future__ import annotations

import functools
import logging
import math
from typing import Callable, Iterable

import torch
from torch import nn

from lab.errors import LabError
from lab.run.config_checks import check_scale_lr

log = logging.getLogger("lab")


def parameter_groups(net: nn.Module, weight_decay: float) -> list[dict]:
    """The trainable parameters of `net` as optimiser groups: matrices decayed by `weight_decay`, the rest not."""
    trainable = [p for p in net.parameters() if p.requires_grad]  # each shared tensor once, in module order
    if not weight_decay:  # one group in module order, as optimiser states saved by earlier runs expect
        return [{"params": trainable}] if trainable else []
    embedded = {id(p) for m in net.modules() if isinstance(m, nn.Embedding) for p in m.parameters()}
    decay = [p for p in trainable if p.ndim >= 2 and id(p) not in embedded]
    no_decay = [p for p in trainable if not (p.ndim >= 2 and id(p) not in embedded)]
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return [g for g in groups if g["params"]]


def _trainer(module):
    if not isinstance(module, nn.Module):
        raise TypeError("scale_lr and per-step schedules read the run's Trainer: call configure_optimizers(self, ...) "
                        "with the LightningModule, not its parameters")
    return module.trainer


def global_batch(module) -> int:
    """Examples per optimiser step over all ranks: batch size x devices x nodes x accumulate_grad_batches."""
    trainer = _trainer(module)
    datamodule = getattr(trainer, "datamodule", None)
    batch = getattr(datamodule, "batch_size", None) or module.hparams.get("batch_size")
    if batch is None:
        raise LabError(f"model.optimizer.scale_lr needs a batch size, and {type(module).__name__} has none "
                       "(no data.batch_size, no model.batch_size)")
    return int(batch) * trainer.world_size * trainer.accumulate_grad_batches


def build_optimizer(module, optimizer: Callable, net: nn.Module | Iterable[nn.Parameter] | None = None):
    """`optimizer` (a partial) over the parameter groups of `net` (default: `module`), with the lr scaled when the
    partial carries `scale_lr`. `net` may also be an iterable of parameters: one group, as given."""
    keywords = dict(getattr(optimizer, "keywords", {}))
    rule, reference = keywords.pop("scale_lr", None), keywords.pop("reference_batch", None)
    check_scale_lr(rule, reference)
    if isinstance(optimizer, functools.partial):
        optimizer = functools.partial(optimizer.func, *optimizer.args, **keywords)
    net = module if net is None else net
    if isinstance(net, nn.Module):
        params = parameter_groups(net, keywords.get("weight_decay", 0.0))
    else:
        params = list(net)
    opt = optimizer(params)
    if rule is None:
        return opt
    batch = global_batch(module)
    for group in opt.param_groups:
        base, group["lr"] = group["lr"], group["lr"] * batch / reference
    if module.trainer.is_global_zero:
        log.info("lr scaled linearly: %g x global batch %d / reference batch %d = %g", base, batch, reference,
                 opt.param_groups[0]["lr"])
    return opt


def warmup_cosine(optimizer: torch.optim.Optimizer, total_steps: int, warmup_steps: int = 0,
                  min_lr: float = 0.0) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up, then cosine decay, per optimiser step s = 0, 1, ..., total_steps - 1:
    lr(s) = peak x (s + 1) / warmup_steps while s < warmup_steps, then from the peak down to the absolute
    `min_lr` along half a cosine, reached at the last step s = total_steps - 1 (and held after it)."""
    if warmup_steps < 0 or total_steps < 1 or min_lr < 0:
        raise LabError(f"warmup_cosine needs warmup_steps >= 0, total_steps >= 1 and min_lr >= 0; got "
                       f"{warmup_steps}, {total_steps} and {min_lr}")
    decay_steps = max(1, total_steps - 1 - warmup_steps)

    def factor(peak: float) -> Callable[[int], float]:
        floor = min_lr / peak if peak else 0.0

        def at(step: int) -> float:
            if step < warmup_steps:
                return (step + 1) / warmup_steps
            progress = min(1.0, (step - warmup_steps) / decay_steps)
            return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))
        return at

    return torch.optim.lr_scheduler.LambdaLR(optimizer, [factor(g["lr"]) for g in optimizer.param_groups])


def _is_per_step(scheduler: Callable) -> bool:
    return getattr(scheduler, "func", scheduler) is warmup_cosine


def build_scheduler(module, scheduler: Callable, opt: torch.optim.Optimizer, total_steps: int | None = None) -> dict:
    """Lightning's scheduler config for the partial `scheduler` on `opt`: `warmup_cosine` gets the run's optimiser
    steps (`total_steps` as configured, else this one, else `trainer.estimated_stepping_batches`) and steps every
    optimiser step; any other scheduler steps once per epoch."""
    if not _is_per_step(scheduler):
        return {"scheduler": scheduler(opt), "interval": "epoch"}
    configured = getattr(scheduler, "keywords", {}).get("total_steps")
    if configured is None:
        steps = total_steps if total_steps is not None else _trainer(module).estimated_stepping_batches
        if not 1 <= steps < math.inf:
            raise LabError(f"model.scheduler=warmup_cosine cannot count the optimiser steps of this run (Lightning "
                           f"estimates {steps}); set model.scheduler.total_steps=N or trainer.max_steps=N")
        scheduler = functools.partial(scheduler, total_steps=int(steps))
    return {"scheduler": scheduler(opt), "interval": "step"}


def configure_optimizers(module, optimizer: Callable, scheduler: Callable | None = None, *,
                         net: nn.Module | Iterable[nn.Parameter] | None = None, total_steps: int | None = None):
    """`configure_optimizers` of a one-optimiser module, in Lightning's return format: `optimizer` over `net`'s
    parameter groups (default: the module's) and, if given, `scheduler` on it. `total_steps`: the optimiser steps
    of the run where Lightning cannot count them (manual optimisation)."""
    opt = build_optimizer(module, optimizer, net)
    if scheduler is None:
        return opt
    return {"optimizer": opt, "lr_scheduler": build_scheduler(module, scheduler, opt, total_steps)}


def step_schedulers(module, interval: str, optimizer=None) -> None:
    """Under manual optimisation: step the schedulers of `interval` ("step" after each optimiser step, "epoch"
    once per epoch), only `optimizer`'s when given."""
    optimizer = getattr(optimizer, "optimizer", optimizer)
    for config in module.trainer.lr_scheduler_configs:
        if config.interval == interval and (optimizer is None or config.scheduler.optimizer is optimizer):
            config.scheduler.step()


def anneal_lr(optimizer, fraction: float, floor: float = 1e-3) -> None:
    """Set every param group's lr to its initial lr times `fraction` (at least `floor` times it): a linear decay
    when `fraction` = 1 - progress. Works on Lightning's wrapped optimisers and on plain ones."""
    optimizer = getattr(optimizer, "optimizer", optimizer)
    for group in optimizer.param_groups:
        group.setdefault("initial_lr", group["lr"])
        group["lr"] = group["initial_lr"] * max(fraction, floor)
