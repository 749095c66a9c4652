"""What diffusion and flow matching share: the net, classifier-free guidance, the steps, the pictures.

A subclass gives `loss(x, labels, generator)` (x in [-1, 1], the model's space) and `states(n, generator, labels,
**options)`, a Python generator of the sampler's states from noise (first) to the image (last), in [-1, 1].
A subclass's `generate` (whose keyword parameters are its sampler options) keeps the last state (`draw`); `denoise_strip` shows `frames` of them for one sample.

Conditioning: the net (lab/nets/unet.py) has a class embedding with one extra "no label" class, index
`num_classes`. In training each label is replaced by it with probability `label_dropout`, so one net learns
the conditional and the unconditional prediction. Sampling with `guidance` w combines them as
uncond + w * (cond - uncond) (Ho & Salimans 2022; diffusers' guidance_scale): w = 1 is the plain conditional
model, w = 0 the unconditional one, w > 1 pushes samples towards their class.

Averaged weights are Lightning's EMA callback's (lab/callbacks/ema.py, set in the experiments); the module
itself holds whatever weights the callback gives it.
"""

from __future__ import annotations

from typing import Callable, Iterator, Sequence

import torch
from torch import nn

from lab.errors import LabError
from lab.models.generative import GenerativeModule
from lab.models.optim import configure_optimizers
from lab.models.train_log import TrainLog

VAL_SEED = 4321


def to_model_space(images: torch.Tensor) -> torch.Tensor:
    return images * 2 - 1


def to_images(x: torch.Tensor) -> torch.Tensor:
    return ((x + 1) / 2).clamp(0, 1)


class IterativeGenerative(GenerativeModule):
    sample_batch = 128

    def __init__(self, net: nn.Module, optimizer: Callable, scheduler: Callable | None = None,
                 image_shape: Sequence[int] = (1, 28, 28), num_classes: int = 10, conditional: bool = False,
                 label_dropout: float = 0.1, guidance: float = 1.0, classifier_ckpt: str | None = None,
                 sample_metrics: bool = True, classifier_epochs: int = 2, val_sample_metrics: bool = False) -> None:
        super().__init__(image_shape, num_classes, conditional, classifier_ckpt, sample_metrics, classifier_epochs)
        net_classes = getattr(net, "num_classes", None) or 0
        if net_classes != (num_classes if conditional else 0):
            raise LabError(f"model.conditional={conditional} with {num_classes} classes needs model.net.num_classes="
                           f"{num_classes if conditional else 'null'}, got {net_classes or 'null'}")
        if tuple(getattr(net, "image_shape", self.image_shape)) != self.image_shape:
            raise LabError(f"the net is built for images {list(net.image_shape)}, the model for "
                           f"{list(self.image_shape)}; set model.image_shape once")
        if not 0 <= label_dropout < 1:
            raise LabError(f"model.label_dropout must be in [0, 1), got {label_dropout}")
        self.net = net
        self.optimizer, self.scheduler = optimizer, scheduler
        self.label_dropout, self.guidance = label_dropout, guidance
        self.val_sample_metrics = val_sample_metrics
        self.train_log = TrainLog()

    # conditioning
    def training_labels(self, y: torch.Tensor | None) -> torch.Tensor | None:
        """The labels a training step gives the net: None (unconditional), else y with a fraction `label_dropout`
        replaced by the "no label" class."""
        if not self.conditional:
            return None
        dropped = torch.rand(len(y), device=y.device) < self.label_dropout
        return torch.where(dropped, torch.full_like(y, self.num_classes), y)

    def guidance_weight(self, guidance: float | None) -> float:
        w = self.guidance if guidance is None else float(guidance)
        if not self.conditional and w != 1:
            raise LabError(f"guidance={w} needs a conditional model (model.conditional=true); an unconditional one "
                           "samples with guidance=1")
        return w

    def predict(self, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor | None, guidance: float) -> torch.Tensor:
        """The net's output at (x, t), guided: uncond + w * (cond - uncond); one batched call for both."""
        if labels is None or guidance == 1:
            return self.net(x, t, labels)
        if guidance == 0:
            return self.net(x, t, None)
        null = torch.full_like(labels, self.num_classes)
        cond, uncond = self.net(torch.cat([x, x]), torch.cat([t, t]), torch.cat([labels, null])).chunk(2)
        return uncond + guidance * (cond - uncond)

    # subclasses
    def loss(self, x: torch.Tensor, labels: torch.Tensor | None,
             generator: torch.Generator | None = None) -> torch.Tensor:
        raise NotImplementedError

    def states(self, n: int, generator: torch.Generator, labels: torch.Tensor | None, **options) -> Iterator[torch.Tensor]:
        raise NotImplementedError

    def noise(self, generator: torch.Generator | None, like: torch.Tensor) -> torch.Tensor:
        """N(0, I) shaped like `like`: from `generator` (CPU, reproducible on any device) or the global RNG."""
        if generator is None:
            return torch.randn_like(like)
        return torch.randn(like.shape, generator=generator).to(like)

    def draw(self, n: int, generator: torch.Generator, labels: torch.Tensor | None, **options) -> torch.Tensor:
        """The sampler's last states as images, `sample_batch` images at a time (on a CPU a few hundred images a
        batch run slower per image than a hundred: their activations leave the caches)."""
        images = []
        for start in range(0, n, self.sample_batch):
            part = None if labels is None else labels[start:start + self.sample_batch]
            for x in self.states(min(self.sample_batch, n - start), generator, part, **options):
                pass
            images.append(to_images(x))
        return torch.cat(images)

    @torch.no_grad()
    def denoise_strip(self, seed: int | None = None, label: int | None = None, frames: int = 10,
                      **options) -> torch.Tensor:
        """One sample's path from noise to image: `frames` evenly spaced states of the sampler, (frames, C, H, W)."""
        generator = torch.Generator()
        generator.manual_seed(int(seed)) if seed is not None else generator.seed()
        was_training = self.training
        self.eval()
        try:
            path = list(self.states(1, generator, self.sample_labels(1, label), **options))
        finally:
            self.train(was_training)
        picks = torch.linspace(0, len(path) - 1, min(frames, len(path))).round().long()
        return to_images(torch.cat([path[i] for i in picks.tolist()]))

    # steps
    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        x, y = self.split_batch(batch)
        loss = self.loss(to_model_space(x), self.training_labels(y))
        self.train_log.step(self, "train/loss", loss, batch_size=len(x), prog_bar=True)
        return loss

    def on_train_epoch_end(self) -> None:
        self.train_log.epoch_end(self)

    def _evaluate(self, stage: str, batch, batch_idx: int) -> None:
        x, y = self.split_batch(batch)
        generator = torch.Generator().manual_seed(VAL_SEED + batch_idx)  # the same t and noise every epoch
        loss = self.loss(to_model_space(x), y if self.conditional else None, generator)
        self.log(f"{stage}/loss", loss, on_epoch=True, prog_bar=True, batch_size=len(x))
        self.add_real(x)

    def validation_step(self, batch, batch_idx: int) -> None:
        self._evaluate("val", batch, batch_idx)

    def test_step(self, batch, batch_idx: int) -> None:
        self._evaluate("test", batch, batch_idx)

    def on_validation_epoch_end(self) -> None:
        if self.trainer.sanity_checking:
            return
        if self.val_sample_metrics:
            self.log_sample_metrics("val")
        self.save_samples("val/samples")

    def on_test_epoch_end(self) -> None:
        self.log_sample_metrics("test")
        self.save_samples("test/samples")
        label = 0 if self.conditional else None
        self.save_grid("test/denoise_strip", self.denoise_strip(seed=0, label=label), nrow=10,
                       caption="one sample from noise (left) to image (right)")

    def configure_optimizers(self):
        return configure_optimizers(self, self.optimizer, self.scheduler)
