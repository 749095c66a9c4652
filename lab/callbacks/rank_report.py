"""A callback that writes what each DDP rank did to `<run dir>/ranks/rank<R>.json` (and its final weights).

Add it to any run to check a distributed job: `+callbacks.rank_report._target_=lab.callbacks.rank_report.RankReport`.
Each rank records its global rank, world size, cluster environment (torchelastic, SLURM, Lightning's own),
optimiser steps, samples it saw, and a copy of its parameters; identical parameters on every rank and the
expected sample counts show that gradients were all-reduced and the data were sharded.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytorch_lightning as pl
import torch

from lab.callbacks.throughput import _batch_size


class RankReport(pl.Callback):
    def __init__(self, save_params: bool = True) -> None:
        self.save_params = save_params
        self.samples = 0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.samples += _batch_size(batch)

    def on_fit_end(self, trainer, pl_module) -> None:
        folder = Path(trainer.default_root_dir) / "ranks"
        folder.mkdir(parents=True, exist_ok=True)
        rank = trainer.global_rank
        report = {"global_rank": rank, "local_rank": trainer.local_rank, "node_rank": trainer.node_rank,
                  "world_size": trainer.world_size, "global_step": trainer.global_step,
                  "samples": self.samples, "strategy": type(trainer.strategy).__name__,
                  "cluster_environment": type(getattr(trainer.strategy, "cluster_environment", None)).__name__,
                  "precision": str(trainer.precision)}
        (folder / f"rank{rank}.json").write_text(json.dumps(report, indent=2))
        if self.save_params:
            state = {k: v.detach().cpu().clone() for k, v in pl_module.state_dict().items()}
            torch.save(state, folder / f"rank{rank}.pt")
