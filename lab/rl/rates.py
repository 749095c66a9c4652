"""Sum a per-rank rate (env steps/s, samples/s) over DDP ranks so the logged number is the whole job's.

In a LightningModule:  `self.log("perf/env_steps_per_sec", global_rate(self, local_steps / seconds))`.
Every rank must call it at the same point (it is a collective when world_size > 1).
"""

from __future__ import annotations

import torch


def global_rate(module, local_rate: float) -> float:
    """This rank's rate summed over all ranks (the local rate itself in a single process)."""
    trainer = getattr(module, "_trainer", None)
    if trainer is None or trainer.world_size <= 1:
        return float(local_rate)
    value = torch.tensor(float(local_rate), dtype=torch.float64, device=module.device)
    return float(trainer.strategy.reduce(value, reduce_op="sum"))
