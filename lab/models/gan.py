"""GAN under manual optimisation: `d_steps` discriminator updates per generator update.

The discriminator minimises BCE(D(x), 1 - label_smoothing) + BCE(D(G(z)), 0). The generator minimises the
non-saturating -log D(G(z)) by default; `generator_loss=saturating` minimises log(1 - D(G(z))) as in the
minimax game, whose gradient vanishes while D confidently rejects the samples (early training), which is
why it is not the default. Images reach D in [-1, 1]; G ends in tanh; `sample()` returns [0, 1].
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from lab.errors import LabError
from lab.models.generative import GenerativeModule

GENERATOR_LOSSES = ("non_saturating", "saturating")


class GAN(GenerativeModule):
    def __init__(self, generator: nn.Module, discriminator: nn.Module, optimizer: Callable,
                 scheduler: Callable | None = None, image_shape: Sequence[int] = (1, 28, 28), latent_dim: int = 64,
                 generator_loss: str = "non_saturating", d_steps: int = 1, label_smoothing: float = 0.0,
                 num_fixed: int = 64, classifier_ckpt: str | None = None, sample_metrics: bool = True,
                 num_classes: int = 10, classifier_epochs: int = 2) -> None:
        super().__init__(image_shape, latent_dim, classifier_ckpt, sample_metrics, num_classes, classifier_epochs)
        self.save_hyperparameters(ignore=["generator", "discriminator", "optimizer", "scheduler"], logger=False)
        if generator_loss not in GENERATOR_LOSSES:
            raise LabError(f"unknown generator_loss {generator_loss!r}; choose one of {', '.join(GENERATOR_LOSSES)}")
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
        self.automatic_optimization = False
        self.generator, self.discriminator = generator, discriminator
        self.optimizer, self.scheduler = optimizer, scheduler
        self.register_buffer("fixed_z", torch.randn(num_fixed, latent_dim, generator=torch.Generator().manual_seed(0)))

    def decode_latent(self, z: torch.Tensor) -> torch.Tensor:
        return (self.generator(z) + 1) / 2

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.decode_latent(z)

    def generator_loss(self, fake_logits: torch.Tensor) -> torch.Tensor:
        if self.hparams.generator_loss == "non_saturating":
            return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))  # -log D(G(z))
        return -F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))  # log(1 - D(G(z)))

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        x = batch[0]
        self.check_images(x)
        opt_g, opt_d = self.optimizers()
        real = x * 2 - 1
        fake = self.generator(torch.randn(len(x), self.latent_dim, device=self.device))

        real_logits, fake_logits = self.discriminator(real), self.discriminator(fake.detach())
        loss_d = (F.binary_cross_entropy_with_logits(
            real_logits, torch.full_like(real_logits, 1.0 - self.hparams.label_smoothing))
            + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))
        opt_d.zero_grad(set_to_none=True)
        self.manual_backward(loss_d)
        opt_d.step()
        self.log_dict({"train/loss_d": loss_d.detach(), "train/d_real": torch.sigmoid(real_logits.detach()).mean(),
                       "train/d_fake": torch.sigmoid(fake_logits.detach()).mean()}, on_step=False, on_epoch=True,
                      prog_bar=True)

        if (batch_idx + 1) % self.hparams.d_steps == 0:
            loss_g = self.generator_loss(self.discriminator(fake))
            opt_g.zero_grad(set_to_none=True)
            self.manual_backward(loss_g)
            opt_g.step()
            self.log("train/loss_g", loss_g.detach(), on_step=False, on_epoch=True, prog_bar=True)
        return loss_d.detach()

    def on_train_epoch_end(self) -> None:
        if self.scheduler is not None:
            for scheduler in self.lr_schedulers():
                scheduler.step()
        was_training = self.training
        self.eval()
        with torch.no_grad():
            images = self.decode_latent(self.fixed_z)
        self.train(was_training)
        self.save_grid("train/fixed_noise_samples", images, nrow=8, caption="the same z every epoch")

    def validation_step(self, batch, batch_idx: int) -> None:
        self.check_images(batch[0])
        self.add_real(batch[0])

    def test_step(self, batch, batch_idx: int) -> None:
        self.check_images(batch[0])
        self.add_real(batch[0])

    def on_validation_epoch_end(self) -> None:
        self.log_sample_metrics("val")

    def on_test_epoch_end(self) -> None:
        self.log_sample_metrics("test")
        self.save_grid("test/samples", self.sample(64, seed=0), nrow=8, caption="z ~ N(0, I)")

    def configure_optimizers(self):
        opt_g = self.optimizer(self.generator.parameters())
        opt_d = self.optimizer(self.discriminator.parameters())
        if self.scheduler is None:
            return [opt_g, opt_d]
        return [opt_g, opt_d], [self.scheduler(opt_g), self.scheduler(opt_d)]
