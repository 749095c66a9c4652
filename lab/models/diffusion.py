"""Denoising diffusion (Ho et al. 2020): a net learns the noise eps in x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps.

Timesteps t = 0..T-1; abar_t = prod_{s<=t} (1 - beta_s) (lab/nets/noise_schedules.py); "before step 0" is
abar = 1, the clean image. Training minimises || eps - net(x_t, t) ||^2 at a uniform t. Sampling starts from
x ~ N(0, I) at the noisiest step and walks down a list of timesteps:
- `ddpm`: ancestral sampling, x_prev ~ q(x_prev | x_t, x0_hat) with the posterior ("fixed small") variance;
  over all T steps unless `steps` respaces it.
- `ddim` (Song et al. 2021): x_prev = sqrt(abar_prev) x0_hat + sqrt(1 - abar_prev - sigma^2) eps_hat + sigma z,
  sigma = eta * sqrt((1 - abar_prev) / (1 - abar_t) * (1 - abar_t / abar_prev)); eta = 0 is deterministic,
  eta = 1 is the ancestral sampler. Few steps suffice (`steps`, evenly spaced, ending at t = 0).
Both clip x0_hat to [-1, 1] and re-derive eps_hat from the clipped x0_hat, which keeps DDIM at eta = 1 identical
to DDPM. The steps match diffusers' DDPMScheduler.step and DDIMScheduler.step (tests/test_diffusion.py).
"""

from __future__ import annotations

from typing import Iterator

import torch

from lab.errors import LabError
from lab.models.iterative import IterativeGenerative
from lab.nets.noise_schedules import alpha_bars, make_betas

SAMPLERS = ("ddpm", "ddim")


# the forward process
def q_sample(x0: torch.Tensor, noise: torch.Tensor, abar_t: torch.Tensor) -> torch.Tensor:
    """x_t ~ q(x_t | x_0) = N(sqrt(abar_t) x_0, (1 - abar_t) I), given the noise; abar_t one value per image."""
    abar_t = abar_t.view(-1, *[1] * (x0.dim() - 1)).to(x0)
    return abar_t.sqrt() * x0 + (1 - abar_t).sqrt() * noise


# one reverse step, t -> prev, of each sampler
def predict_x0(x_t: torch.Tensor, eps: torch.Tensor, abar_t: float, clip: bool = True
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """(x0_hat, eps_hat): x0 from the predicted noise, clipped to [-1, 1], and the noise that clipped x0 implies."""
    x0 = (x_t - (1 - abar_t) ** 0.5 * eps) / abar_t ** 0.5
    if not clip:
        return x0, eps
    x0 = x0.clamp(-1, 1)
    return x0, (x_t - abar_t ** 0.5 * x0) / (1 - abar_t) ** 0.5


def ddpm_step(x_t: torch.Tensor, eps: torch.Tensor, abar_t: float, abar_prev: float,
              noise: torch.Tensor | None, clip: bool = True) -> torch.Tensor:
    """A sample of q(x_prev | x_t, x0_hat): posterior mean plus sqrt(posterior variance) * noise (none into t=0)."""
    beta_t = 1 - abar_t / abar_prev
    x0, _ = predict_x0(x_t, eps, abar_t, clip)
    mean = (abar_prev ** 0.5 * beta_t * x0 + (1 - beta_t) ** 0.5 * (1 - abar_prev) * x_t) / (1 - abar_t)
    if noise is None or abar_prev == 1.0:
        return mean
    variance = max((1 - abar_prev) / (1 - abar_t) * beta_t, 1e-20)
    return mean + variance ** 0.5 * noise


def ddim_step(x_t: torch.Tensor, eps: torch.Tensor, abar_t: float, abar_prev: float, eta: float,
              noise: torch.Tensor | None, clip: bool = True) -> torch.Tensor:
    x0, eps = predict_x0(x_t, eps, abar_t, clip)
    sigma = eta * ((1 - abar_prev) / (1 - abar_t) * (1 - abar_t / abar_prev)) ** 0.5
    x_prev = abar_prev ** 0.5 * x0 + max(1 - abar_prev - sigma ** 2, 0.0) ** 0.5 * eps
    return x_prev + sigma * noise if sigma > 0 and noise is not None else x_prev


def sampling_timesteps(num_timesteps: int, steps: int) -> list[int]:
    """`steps` timesteps from T-1 down, evenly spaced, the last one 0 ... round(T/steps)-1 ("trailing" spacing,
    diffusers' timestep_spacing="trailing"); all T when steps = T."""
    if not 1 <= steps <= num_timesteps:
        raise LabError(f"steps must be between 1 and the model's {num_timesteps} timesteps, got {steps}")
    return [round(num_timesteps - i * num_timesteps / steps) - 1 for i in range(steps)]


class DDPM(IterativeGenerative):
    def __init__(self, *args, num_timesteps: int = 1000, schedule: str = "cosine", sampler: str = "ddim",
                 steps: int = 50, eta: float = 0.0, clip: bool = True, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.num_timesteps = num_timesteps
        self.abar = alpha_bars(make_betas(schedule, num_timesteps))  # float64, CPU: a table, not a weight
        self.check_sampler(sampler, steps, eta)
        self.sampler, self.steps, self.eta, self.clip = sampler, steps, eta, clip

    def check_sampler(self, sampler: str, steps: int, eta: float) -> None:
        if sampler not in SAMPLERS:
            raise LabError(f"unknown sampler {sampler!r}; choose one of {', '.join(SAMPLERS)}")
        sampling_timesteps(self.num_timesteps, steps)
        if eta < 0:
            raise LabError(f"eta must be >= 0, got {eta}")

    # training: noise a clean batch at uniform timesteps, predict the noise
    def loss(self, x: torch.Tensor, labels: torch.Tensor | None,
             generator: torch.Generator | None = None) -> torch.Tensor:
        t = torch.randint(0, self.num_timesteps, (len(x),), generator=generator).to(x.device)
        noise = self.noise(generator, x)
        x_t = q_sample(x, noise, self.abar[t.cpu()])
        return (self.net(x_t, t, labels) - noise).pow(2).mean()

    # sampling
    def generate(self, n: int, generator: torch.Generator, labels: torch.Tensor | None, sampler: str | None = None,
                 steps: int | None = None, eta: float | None = None, guidance: float | None = None) -> torch.Tensor:
        return self.draw(n, generator, labels, sampler=sampler, steps=steps, eta=eta, guidance=guidance)

    def states(self, n: int, generator: torch.Generator, labels: torch.Tensor | None, sampler: str | None = None,
               steps: int | None = None, eta: float | None = None, guidance: float | None = None
               ) -> Iterator[torch.Tensor]:
        """x_T ~ N(0, I), then x after each reverse step; `ddpm` defaults to all T steps, `ddim` to `model.steps`."""
        sampler = sampler or self.sampler
        steps = steps or (self.num_timesteps if sampler == "ddpm" else self.steps)
        eta = self.eta if eta is None else float(eta)
        self.check_sampler(sampler, steps, eta)
        w = self.guidance_weight(guidance)
        timesteps = sampling_timesteps(self.num_timesteps, steps)
        x = self.randn(generator, n, *self.image_shape)
        yield x
        for i, t in enumerate(timesteps):
            abar_t = float(self.abar[t])
            abar_prev = float(self.abar[timesteps[i + 1]]) if i + 1 < len(timesteps) else 1.0
            eps = self.predict(x, torch.full((n,), t, device=self.device), labels, w)
            noise = self.randn(generator, *x.shape) if abar_prev < 1 and (sampler == "ddpm" or eta > 0) else None
            if sampler == "ddpm":
                x = ddpm_step(x, eps, abar_t, abar_prev, noise, self.clip)
            else:
                x = ddim_step(x, eps, abar_t, abar_prev, eta, noise, self.clip)
            yield x
