"""Variational auto-encoder: reparameterised Gaussian posterior, Bernoulli or Gaussian pixels, ELBO in nats per image.

Logged per image, in nats: `elbo` = `recon` (E_q log p(x|z)) - `kl` (KL(q(z|x) || N(0, I))). Training minimises
-(recon - beta_t * kl) with beta_t warmed up linearly over `kl_warmup_steps`. At test time `test/nll_iw` is the
importance-weighted estimate -log (1/k sum_i p(x, z_i) / q(z_i|x)) with k = `iw_samples` (Burda et al. 2015), a
tighter bound than the ELBO: nll_iw <= -elbo.

With `conditional=true` it is a conditional VAE (Sohn et al. 2015): encoder and decoder also take the label y
(q(z|x, y), p(x|z, y)), the prior stays N(0, I), and `sample(n, labels=...)` draws the given classes.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from lab.errors import LabError
from lab.models.generative import GenerativeModule
from lab.nets.shapes import check_latent
from lab.models.optim import configure_optimizers
from lab.models.train_log import TrainLog

LOG_2PI = math.log(2 * math.pi)
LIKELIHOODS = ("bernoulli", "gaussian")


def reparameterize(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """z = mean + exp(logvar / 2) * eps, eps ~ N(0, I): a sample that gradients flow through."""
    return mean + torch.exp(0.5 * logvar) * torch.randn_like(mean)


def kl_standard_normal(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mean, exp(logvar)) || N(0, I)) summed over the last dimension, in closed form."""
    return 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar).sum(-1)


def gaussian_log_density(z: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    return -0.5 * (LOG_2PI + logvar + (z - mean).pow(2) * torch.exp(-logvar)).sum(-1)


class VAE(GenerativeModule):
    def __init__(self, encoder: nn.Module, decoder: nn.Module, optimizer: Callable, scheduler: Callable | None = None,
                 image_shape: Sequence[int] = (1, 28, 28), latent_dim: int = 16, likelihood: str = "bernoulli",
                 gaussian_std: float = 0.1, beta: float = 1.0, kl_warmup_steps: int = 0, iw_samples: int = 64,
                 num_images: int = 32, classifier_ckpt: str | None = None, sample_metrics: bool = True,
                 num_classes: int = 10, classifier_epochs: int = 2, conditional: bool = False) -> None:
        super().__init__(image_shape, num_classes, conditional, classifier_ckpt, sample_metrics, classifier_epochs)
        self.latent_dim = check_latent(latent_dim)
        self.save_hyperparameters(ignore=["encoder", "decoder", "optimizer", "scheduler"], logger=False)
        if likelihood not in LIKELIHOODS:
            raise LabError(f"unknown likelihood {likelihood!r}; choose one of {', '.join(LIKELIHOODS)}")
        for net in (encoder, decoder):
            if getattr(net, "latent_dim", latent_dim) != latent_dim or \
                    tuple(getattr(net, "image_shape", self.image_shape)) != self.image_shape:
                raise LabError(f"{type(net).__name__} is built for latent {net.latent_dim} and images "
                               f"{list(net.image_shape)}, the VAE for latent {latent_dim} and images "
                               f"{list(self.image_shape)}; set model.latent_dim / model.image_shape once")
            if conditional and getattr(getattr(net, "label", None), "dim", 0) == 0:
                raise LabError(f"model.conditional=true but the {type(net).__name__} takes no labels; set its "
                               "num_classes (model.encoder.num_classes / model.decoder.num_classes)")
        if iw_samples < 1:
            raise LabError(f"model.iw_samples must be >= 1, got {iw_samples}")
        self.encoder, self.decoder = encoder, decoder
        self.optimizer, self.scheduler = optimizer, scheduler
        self.train_log = TrainLog()
        self._first_batch: tuple[torch.Tensor, torch.Tensor | None] | None = None

    # the probabilistic model
    def log_likelihood(self, x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """log p(x|z) per image, from the decoder output `out` (logits of pixel means)."""
        if self.hparams.likelihood == "bernoulli":
            return -F.binary_cross_entropy_with_logits(out, x.expand_as(out), reduction="none").flatten(-3).sum(-1)
        std = self.hparams.gaussian_std
        return (-0.5 * ((x - torch.sigmoid(out)) / std).pow(2) - math.log(std) - 0.5 * LOG_2PI).flatten(-3).sum(-1)

    def decode_latent(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return torch.sigmoid(self.decoder(z, y))

    def generate(self, n: int, generator: torch.Generator, labels: torch.Tensor | None) -> torch.Tensor:
        return self.decode_latent(self.randn(generator, n, self.latent_dim), labels)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        mean, logvar = self.encoder(x, y)
        z = reparameterize(mean, logvar)
        recon = self.log_likelihood(x, self.decoder(z, y))
        kl = kl_standard_normal(mean, logvar)
        return {"recon": recon, "kl": kl, "elbo": recon - kl, "mean": mean}

    def kl_weight(self) -> float:
        warmup = self.hparams.kl_warmup_steps
        ramp = min(1.0, self.global_step / warmup) if warmup > 0 else 1.0
        return self.hparams.beta * ramp

    @torch.no_grad()
    def iw_log_likelihood(self, x: torch.Tensor, k: int, max_images: int = 8192,
                          y: torch.Tensor | None = None) -> torch.Tensor:
        """log p(x) (log p(x|y) when conditional) estimated with `k` importance samples from q(z|x), per image."""
        mean, logvar = self.encoder(x, y)
        chunk = max(1, max_images // len(x))
        log_w = []
        for start in range(0, k, chunk):
            n = min(chunk, k - start)
            z = mean + torch.exp(0.5 * logvar) * torch.randn(n, *mean.shape, device=x.device)
            out = self.decoder(z.flatten(0, 1), None if y is None else y.repeat(n)).view(n, len(x), *self.image_shape)
            log_w.append(self.log_likelihood(x, out) + gaussian_log_density(z, torch.zeros_like(z), torch.zeros_like(z))
                         - gaussian_log_density(z, mean, logvar))
        return torch.logsumexp(torch.cat(log_w), 0) - math.log(k)

    # steps
    def _log_terms(self, stage: str, terms: dict[str, torch.Tensor]) -> None:
        for name in ("elbo", "recon", "kl"):
            value, prog_bar = terms[name].mean(), name == "elbo"
            if stage == "train":
                self.train_log.step(self, f"train/{name}", value, batch_size=len(terms[name]), prog_bar=prog_bar)
            else:
                self.log(f"{stage}/{name}", value, on_epoch=True, prog_bar=prog_bar)

    def _batch(self, batch) -> tuple[torch.Tensor, torch.Tensor | None]:
        x, y = self.split_batch(batch)
        return x, y if self.conditional else None

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        x, y = self._batch(batch)
        terms = self(x, y)
        loss = -(terms["recon"] - self.kl_weight() * terms["kl"]).mean()
        self.train_log.step(self, "train/loss", loss, batch_size=len(x))
        self._log_terms("train", terms)
        return loss

    def on_train_epoch_end(self) -> None:
        self.train_log.epoch_end(self)

    def validation_step(self, batch, batch_idx: int) -> None:
        x, y = self._batch(batch)
        terms = self(x, y)
        self.log("val/loss", -terms["elbo"].mean())
        self._log_terms("val", terms)
        self.add_real(x)
        if batch_idx == 0:
            keep = self.hparams.num_images
            self._first_batch = (x[:keep], None if y is None else y[:keep])

    def test_step(self, batch, batch_idx: int) -> None:
        x, y = self._batch(batch)
        terms = self(x, y)
        self._log_terms("test", terms)
        self.log("test/nll_iw", -self.iw_log_likelihood(x, self.hparams.iw_samples, y=y).mean(), prog_bar=True)
        self.add_real(x)
        if batch_idx == 0:
            keep = self.hparams.num_images
            self._first_batch = (x[:keep], None if y is None else y[:keep])

    def on_validation_epoch_end(self) -> None:
        self.log_sample_metrics("val")
        self.save_pictures("val")

    def on_test_epoch_end(self) -> None:
        self.log_sample_metrics("test")
        self.save_pictures("test")

    # pictures
    @torch.no_grad()
    def reconstructions(self, x: torch.Tensor, nrow: int = 8, y: torch.Tensor | None = None) -> torch.Tensor:
        """Rows of inputs, each followed by a row of their reconstructions (decoded posterior means)."""
        recon = self.decode_latent(self.encoder(x, y)[0], y)
        n = len(x) // nrow * nrow or len(x)
        nrow = min(nrow, n)
        pairs = torch.stack([x[:n].view(-1, nrow, *x.shape[1:]), recon[:n].view(-1, nrow, *x.shape[1:])], 1)
        return pairs.flatten(0, 2)

    @torch.no_grad()
    def traversal(self, x: torch.Tensor | None, steps: int = 9, max_dims: int = 8,
                  y: torch.Tensor | None = None) -> tuple[torch.Tensor, int]:
        """A 2-D latent: a steps^2 grid over the prior's quantiles. Otherwise: the most active coordinates
        (highest variance of posterior means over `x`), each varied over [-3, 3] from the first image's code.
        A conditional model decodes every code with the first image's label (class 0 without images)."""
        device = self.device
        label = (y[:1] if y is not None else torch.zeros(1, dtype=torch.long, device=device)) \
            if self.conditional else None
        if self.latent_dim == 2:
            steps = 15
            values = torch.distributions.Normal(0.0, 1.0).icdf(torch.linspace(0.05, 0.95, steps))
            z = torch.cartesian_prod(values, values).flip(-1).to(device)
            return self.decode_latent(z, None if label is None else label.expand(len(z))), steps
        means = self.encoder(x, None if label is None else label.expand(len(x)))[0] if x is not None \
            else torch.zeros(2, self.latent_dim, device=device)
        dims = means.var(0).argsort(descending=True)[: min(max_dims, self.latent_dim)]
        z = means[0].repeat(len(dims), steps, 1)
        values = torch.linspace(-3, 3, steps, device=device)
        for row, dim in enumerate(dims):
            z[row, :, dim] = values
        z = z.flatten(0, 1)
        return self.decode_latent(z, None if label is None else label.expand(len(z))), steps

    def save_pictures(self, stage: str) -> None:
        if self.trainer.sanity_checking:
            return
        x, y = self._first_batch or (None, None)
        if x is not None:
            self.save_grid(f"{stage}/reconstructions", self.reconstructions(x, y=y), nrow=8,
                           caption="odd rows: inputs; even rows: reconstructions")
        self.save_samples(f"{stage}/samples")
        images, nrow = self.traversal(x, y=y)
        self.save_grid(f"{stage}/traversal", images, nrow=nrow,
                       caption="2-D latent grid" if self.latent_dim == 2 else "rows: latent coordinates, -3..3")

    def configure_optimizers(self):
        return configure_optimizers(self, self.optimizer, self.scheduler)
