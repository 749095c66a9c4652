"""Noise schedules of a diffusion model: beta_t for t = 0..T-1, and the cumulative alpha-bar_t = prod (1 - beta_s).

`linear`: beta from 1e-4 to 0.02 over T = 1000 steps (Ho et al. 2020), scaled by 1000/T for other T so that
alpha-bar still ends near 0. `cosine`: alpha-bar(s) = cos^2((s + 0.008)/1.008 * pi/2), beta_t = 1 -
alpha-bar((t+1)/T) / alpha-bar(t/T) capped at 0.999 (Nichol & Dhariwal 2021), the same as diffusers'
"squaredcos_cap_v2".
"""

from __future__ import annotations

import math

import torch

from lab.errors import LabError

SCHEDULES = ("linear", "cosine")


def linear_betas(steps: int, beta_start: float = 1e-4, beta_end: float = 0.02) -> torch.Tensor:
    scale = 1000 / steps
    return torch.linspace(beta_start * scale, beta_end * scale, steps, dtype=torch.float64)


def cosine_betas(steps: int, offset: float = 0.008, max_beta: float = 0.999) -> torch.Tensor:
    def alpha_bar(s: float) -> float:
        return math.cos((s + offset) / (1 + offset) * math.pi / 2) ** 2

    return torch.tensor([min(1 - alpha_bar((t + 1) / steps) / alpha_bar(t / steps), max_beta) for t in range(steps)],
                        dtype=torch.float64)


def make_betas(name: str, steps: int) -> torch.Tensor:
    """(steps,) float64 betas of the schedule `name`."""
    if name not in SCHEDULES:
        raise LabError(f"unknown noise schedule {name!r}; choose one of {', '.join(SCHEDULES)}")
    if steps < 2:
        raise LabError(f"a diffusion needs at least 2 timesteps, got {steps}")
    return linear_betas(steps) if name == "linear" else cosine_betas(steps)


def alpha_bars(betas: torch.Tensor) -> torch.Tensor:
    return torch.cumprod(1 - betas, 0)
