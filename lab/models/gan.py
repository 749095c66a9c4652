"""GAN under manual optimisation: `d_steps` critic updates (one batch each) per generator update.

`loss` picks the game:
- non_saturating (default): D minimises BCE(D(x), 1 - label_smoothing) + BCE(D(G(z)), 0); G minimises
  -log D(G(z)).
- saturating: the same D; G minimises log(1 - D(G(z))) as in the minimax game, whose gradient vanishes while D
  confidently rejects the samples (early training), which is why it is not the default.
- wgan_gp (Gulrajani et al. 2017): the critic minimises E D(G(z)) - E D(x) + gp_weight * E (||grad D(x_hat)|| - 1)^2
  on random interpolates x_hat of real and generated images; G minimises -E D(G(z)). The paper's settings:
  gp_weight 10, d_steps 5, Adam betas (0.5, 0.9) or (0, 0.9).
- hinge (Miyato et al. 2018): D minimises E relu(1 - D(x)) + E relu(1 + D(G(z))); G minimises -E D(G(z)).
`spectral_norm=true` reparameterises every linear, convolution and embedding weight of the discriminator
by its largest singular value (torch.nn.utils.parametrizations.spectral_norm). A critic trained with a gradient
penalty or spectral norm must not use batch norm (the penalty is per sample; batch norm mixes samples).

With `conditional=true` the generator and discriminator take the label (see lab/nets/gan.py: concatenated
embedding in G, projection in D). Images reach D in [-1, 1]; G ends in tanh; `sample()` returns [0, 1].
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm as add_spectral_norm

from lab.errors import LabError
from lab.models.generative import GenerativeModule
from lab.models.optim import build_optimizer, build_scheduler, step_schedulers
from lab.nets.shapes import check_latent

LOSSES = ("non_saturating", "saturating", "wgan_gp", "hinge")


def gradient_penalty(critic: Callable[..., torch.Tensor], real: torch.Tensor, fake: torch.Tensor,
                     eps: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
    """E (||grad_x D(x_hat)||_2 - 1)^2 at x_hat = eps * real + (1 - eps) * fake, eps one number per sample."""
    x_hat = (eps.view(-1, *[1] * (real.dim() - 1)) * real + (1 - eps.view(-1, *[1] * (real.dim() - 1))) * fake)
    x_hat = x_hat.detach().requires_grad_(True)
    out = critic(x_hat) if y is None else critic(x_hat, y)
    (grad,) = torch.autograd.grad(out.sum(), x_hat, create_graph=True)
    return (grad.flatten(1).norm(2, dim=1) - 1).pow(2).mean()


def apply_spectral_norm(net: nn.Module) -> nn.Module:
    for module in list(net.modules()):
        if isinstance(module, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d, nn.Embedding)):
            add_spectral_norm(module)
    return net


class GAN(GenerativeModule):
    def __init__(self, generator: nn.Module, discriminator: nn.Module, optimizer: Callable,
                 scheduler: Callable | None = None, image_shape: Sequence[int] = (1, 28, 28), latent_dim: int = 64,
                 loss: str = "non_saturating", d_steps: int = 1, label_smoothing: float = 0.0,
                 gp_weight: float = 10.0, spectral_norm: bool = False, num_fixed: int = 64,
                 classifier_ckpt: str | None = None, sample_metrics: bool = True, num_classes: int = 10,
                 classifier_epochs: int = 2, conditional: bool = False) -> None:
        super().__init__(image_shape, num_classes, conditional, classifier_ckpt, sample_metrics, classifier_epochs)
        self.save_hyperparameters(ignore=["generator", "discriminator", "optimizer", "scheduler"], logger=False)
        self.latent_dim = check_latent(latent_dim)
        if loss not in LOSSES:
            raise LabError(f"unknown model.loss {loss!r}; choose one of {', '.join(LOSSES)}")
        if d_steps < 1:
            raise LabError(f"model.d_steps (discriminator updates per generator update) must be >= 1, got {d_steps}")
        if not 0.0 <= label_smoothing < 0.5:
            raise LabError(f"model.label_smoothing must be in [0, 0.5), got {label_smoothing}")
        if getattr(generator, "latent_dim", latent_dim) != latent_dim:
            raise LabError(f"the generator is built for latent {generator.latent_dim} but model.latent_dim={latent_dim}")
        for net in (generator, discriminator):
            if tuple(getattr(net, "image_shape", self.image_shape)) != self.image_shape:
                raise LabError(f"{type(net).__name__} is built for images {list(net.image_shape)} but "
                               f"model.image_shape={list(self.image_shape)}")
        if conditional and (getattr(getattr(generator, "label", None), "dim", 0) == 0
                            or getattr(getattr(discriminator, "out", None), "embed", None) is None):
            raise LabError("model.conditional=true but the generator or discriminator takes no labels; set "
                           "model.generator.num_classes and model.discriminator.num_classes")
        if (loss == "wgan_gp" or spectral_norm) and any(
                isinstance(m, nn.modules.batchnorm._BatchNorm) for m in discriminator.modules()):
            raise LabError(f"a critic trained with {'a gradient penalty' if loss == 'wgan_gp' else 'spectral norm'} "
                           "must not use batch norm; set model.discriminator.batch_norm=false")
        self.automatic_optimization = False
        self.generator = generator
        self.discriminator = apply_spectral_norm(discriminator) if spectral_norm else discriminator
        self.optimizer, self.scheduler = optimizer, scheduler
        self.register_buffer("fixed_z", torch.randn(num_fixed, latent_dim, generator=torch.Generator().manual_seed(0)))

    def _labels(self, y: torch.Tensor | None) -> torch.Tensor | None:
        return y if self.conditional else None

    def critic(self, images: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        return self.discriminator(images, y) if self.conditional else self.discriminator(images)

    def generate(self, n: int, generator: torch.Generator, labels: torch.Tensor | None) -> torch.Tensor:
        return self.decode(self.randn(generator, n, self.latent_dim), labels)

    def decode(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        fake = self.generator(z, y) if self.conditional else self.generator(z)
        return (fake + 1) / 2

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.decode(z, y)

    # the losses
    def discriminator_loss(self, real_out: torch.Tensor, fake_out: torch.Tensor) -> torch.Tensor:
        loss = self.hparams.loss
        if loss == "wgan_gp":
            return fake_out.mean() - real_out.mean()  # the gradient penalty is added by the caller
        if loss == "hinge":
            return F.relu(1 - real_out).mean() + F.relu(1 + fake_out).mean()
        return (F.binary_cross_entropy_with_logits(real_out, torch.full_like(real_out, 1 - self.hparams.label_smoothing))
                + F.binary_cross_entropy_with_logits(fake_out, torch.zeros_like(fake_out)))

    def generator_loss(self, fake_out: torch.Tensor) -> torch.Tensor:
        loss = self.hparams.loss
        if loss == "non_saturating":
            return F.binary_cross_entropy_with_logits(fake_out, torch.ones_like(fake_out))  # -log D(G(z))
        if loss == "saturating":
            return -F.binary_cross_entropy_with_logits(fake_out, torch.zeros_like(fake_out))  # log(1 - D(G(z)))
        return -fake_out.mean()

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        x, y = self.split_batch(batch)
        y = self._labels(y)
        opt_g, opt_d = self.optimizers()
        real = x * 2 - 1
        z = torch.randn(len(x), self.latent_dim, device=self.device)
        fake = self.generator(z, y) if self.conditional else self.generator(z)

        real_out, fake_out = self.critic(real, y), self.critic(fake.detach(), y)
        loss_d = self.discriminator_loss(real_out, fake_out)
        logged = {"train/loss_d": loss_d.detach()}
        if self.hparams.loss == "wgan_gp":
            eps = torch.rand(len(x), device=self.device)
            penalty = gradient_penalty(lambda images: self.critic(images, y), real, fake.detach(), eps)
            logged.update({"train/wasserstein": (real_out.mean() - fake_out.mean()).detach(),
                           "train/gradient_penalty": penalty.detach()})
            loss_d = loss_d + self.hparams.gp_weight * penalty
        if self.hparams.loss in ("non_saturating", "saturating"):
            logged.update({"train/d_real": torch.sigmoid(real_out.detach()).mean(),
                           "train/d_fake": torch.sigmoid(fake_out.detach()).mean()})
        else:
            logged.update({"train/critic_real": real_out.detach().mean(), "train/critic_fake": fake_out.detach().mean()})
        opt_d.zero_grad(set_to_none=True)
        self.manual_backward(loss_d)
        opt_d.step()
        if self.scheduler is not None:
            step_schedulers(self, "step", opt_d)
        self.log_dict(logged, on_step=False, on_epoch=True, prog_bar=True)

        if (batch_idx + 1) % self.hparams.d_steps == 0:
            loss_g = self.generator_loss(self.critic(fake, y))
            opt_g.zero_grad(set_to_none=True)
            self.manual_backward(loss_g)
            opt_g.step()
            if self.scheduler is not None:
                step_schedulers(self, "step", opt_g)
            self.log("train/loss_g", loss_g.detach(), on_step=False, on_epoch=True, prog_bar=True)
        return loss_d.detach()

    def fixed_labels(self) -> torch.Tensor | None:
        if not self.conditional:
            return None
        return (torch.arange(len(self.fixed_z)) % self.num_classes).to(self.device)

    def on_train_epoch_end(self) -> None:
        if self.scheduler is not None:
            step_schedulers(self, "epoch")
        was_training = self.training
        self.eval()
        with torch.no_grad():
            images = self.decode(self.fixed_z, self.fixed_labels())
        self.train(was_training)
        self.save_grid("train/fixed_noise_samples", images, nrow=self.num_classes if self.conditional else 8,
                       caption="the same z every epoch" + ("; one column per class" if self.conditional else ""))

    def validation_step(self, batch, batch_idx: int) -> None:
        self.add_real(self.split_batch(batch)[0])

    def test_step(self, batch, batch_idx: int) -> None:
        self.add_real(self.split_batch(batch)[0])

    def on_validation_epoch_end(self) -> None:
        self.log_sample_metrics("val")

    def on_test_epoch_end(self) -> None:
        self.log_sample_metrics("test")
        self.save_samples("test/samples")

    def configure_optimizers(self):
        opt_g = build_optimizer(self, self.optimizer, self.generator)
        opt_d = build_optimizer(self, self.optimizer, self.discriminator)
        if self.scheduler is None:
            return [opt_g, opt_d]
        d_steps = self.trainer.estimated_stepping_batches  # one critic step per batch, one generator step per d_steps
        return [opt_g, opt_d], [build_scheduler(self, self.scheduler, opt_g, d_steps // self.hparams.d_steps),
                                build_scheduler(self, self.scheduler, opt_d, d_steps)]
