"""Flow matching on straight paths (rectified flow, Liu et al. 2023; conditional flow matching, Lipman et al. 2023).

A path joins noise x_0 ~ N(0, I) to a data image x_1: x_t = (1 - t) x_0 + t x_1, t in [0, 1], whose velocity is
x_1 - x_0. The net learns v(x_t, t) by regression on that velocity at a random t, uniform or logit-normal
(`time_sampling`; logit-normal, sigmoid of a standard normal, puts more of the training at mid-path, Esser et al.
2024); the minimiser is the velocity field whose flow carries the noise distribution onto the data. Sampling
integrates dx/dt = v(x, t) from t = 0 to 1 with `steps` equal steps of Euler's method (one net call a step) or
Heun's (two calls, second order). The net's time input is 1000 t, the scale of a diffusion model's timesteps,
which its sinusoidal embedding is built for.
"""

from __future__ import annotations

from typing import Callable, Iterator

import torch

from lab.errors import LabError
from lab.models.iterative import IterativeGenerative

SOLVERS = ("euler", "heun")
TIME_SAMPLINGS = ("uniform", "logit_normal")
TIME_SCALE = 1000.0

Velocity = Callable[[torch.Tensor, float], torch.Tensor]


# the path and its velocity
def interpolate(x0: torch.Tensor, x1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    t = t.view(-1, *[1] * (x0.dim() - 1)).to(x0)
    return (1 - t) * x0 + t * x1


# the ODE solvers
def ode_states(velocity: Velocity, x: torch.Tensor, steps: int, solver: str) -> Iterator[torch.Tensor]:
    """x at t = 0, 1/steps, ..., 1 under dx/dt = velocity(x, t)."""
    if solver not in SOLVERS:
        raise LabError(f"unknown solver {solver!r}; choose one of {', '.join(SOLVERS)}")
    if steps < 1:
        raise LabError(f"steps must be >= 1, got {steps}")
    h = 1.0 / steps
    yield x
    for i in range(steps):
        t = i * h
        v = velocity(x, t)
        if solver == "heun":
            v = (v + velocity(x + h * v, t + h)) / 2
        x = x + h * v
        yield x


class FlowMatching(IterativeGenerative):
    def __init__(self, *args, solver: str = "heun", steps: int = 10, time_sampling: str = "uniform",
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if solver not in SOLVERS:
            raise LabError(f"unknown model.solver {solver!r}; choose one of {', '.join(SOLVERS)}")
        if time_sampling not in TIME_SAMPLINGS:
            raise LabError(f"unknown model.time_sampling {time_sampling!r}; choose one of {', '.join(TIME_SAMPLINGS)}")
        self.solver, self.steps, self.time_sampling = solver, steps, time_sampling

    def training_times(self, n: int, generator: torch.Generator | None) -> torch.Tensor:
        """n path times in (0, 1): uniform, or logit-normal (the sigmoid of a standard normal)."""
        if self.time_sampling == "logit_normal":
            return torch.sigmoid(torch.randn(n, generator=generator))
        return torch.rand(n, generator=generator)

    # training: a point on the straight path from noise to the batch, regressed onto the path's velocity
    def loss(self, x: torch.Tensor, labels: torch.Tensor | None,
             generator: torch.Generator | None = None) -> torch.Tensor:
        t = self.training_times(len(x), generator).to(x.device)
        x0 = self.noise(generator, x)
        return (self.net(interpolate(x0, x, t), TIME_SCALE * t, labels) - (x - x0)).pow(2).mean()

    # sampling
    def generate(self, n: int, generator: torch.Generator, labels: torch.Tensor | None, steps: int | None = None,
                 solver: str | None = None, guidance: float | None = None) -> torch.Tensor:
        return self.draw(n, generator, labels, steps=steps, solver=solver, guidance=guidance)

    def states(self, n: int, generator: torch.Generator, labels: torch.Tensor | None, steps: int | None = None,
               solver: str | None = None, guidance: float | None = None) -> Iterator[torch.Tensor]:
        w = self.guidance_weight(guidance)

        def velocity(x: torch.Tensor, t: float) -> torch.Tensor:
            return self.predict(x, torch.full((len(x),), TIME_SCALE * t, device=x.device), labels, w)

        yield from ode_states(velocity, self.randn(generator, n, *self.image_shape), int(steps or self.steps),
                              solver or self.solver)
