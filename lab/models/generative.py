"""The contract every generative family fulfils, and what the families share through it.

A generative module answers one question:

    module.sample(n, seed=None, labels=None, **options) -> Tensor (n, C, H, W) in [0, 1]

the same images for the same seed. Pictures, sample metrics and `lab-sample` call `sample` and nothing else,
so a VAE, a GAN, a diffusion model and a flow are interchangeable to them.

A family implements `generate(n, generator, labels, **options)`; `sample` wraps it: it switches to eval mode and
no_grad, builds a local `torch.Generator` (CPU, seeded; never the global RNG), and resolves `labels`.
`generate` must draw all its randomness from `generator` (`self.randn(generator, ...)` moves draws to the
module's device), so one seed gives the same images on any device. Keyword parameters of `generate` after
`labels` are the family's sampler options (e.g. `steps`, `guidance`); `lab-sample` passes `key=value` words with
those names through (`sample_options()` lists them). A family may also offer
`denoise_strip(seed=None, label=None, **options) -> (k, C, H, W)`, one sample's path from noise to image in k
pictures, for `lab-sample denoise=true`.

Labels: `self.num_classes` is the number of classes in the data (the metric classifier's classes too);
`self.conditional` says whether the model takes a label. Steps read batches through `split_batch`, which gives
(x, y) with y the datamodule's labels (None when the data has none); a conditional model uses y, an
unconditional one ignores it. `labels` in `sample` is None, one class for all n images, or n classes; for a
conditional model None means balanced classes (i % num_classes), for an unconditional one labels are refused.
"""

from __future__ import annotations

import inspect
import itertools
from typing import Any, Sequence

import pytorch_lightning as pl
import torch

from lab.errors import LabError
from lab.models.gen_metrics import SampleMetrics, check_classifier_path, load_scorer
from lab.callbacks.viz import image_path, log_image, new_figure, save_figure, save_image_grid

SAMPLE_METRICS_SEED = 1234


class GenerativeModule(pl.LightningModule):
    """Base of the generative families; subclasses implement `generate` (see the module docstring)."""

    def __init__(self, image_shape: Sequence[int], num_classes: int = 10, conditional: bool = False,
                 classifier_ckpt: str | None = None, sample_metrics: bool = True, classifier_epochs: int = 2) -> None:
        super().__init__()
        self.image_shape = tuple(int(s) for s in image_shape)
        if conditional and (not isinstance(num_classes, int) or num_classes < 2):
            raise LabError(f"a conditional model needs model.num_classes >= 2 (the data's classes), got {num_classes!r}")
        self.num_classes, self.conditional = num_classes, bool(conditional)
        self.classifier_ckpt, self.use_sample_metrics = classifier_ckpt, sample_metrics
        self.classifier_epochs = classifier_epochs
        self.sample_metrics: SampleMetrics | None = None

    # the contract
    def generate(self, n: int, generator: torch.Generator, labels: torch.Tensor | None) -> torch.Tensor:
        """`n` images (n, C, H, W) in [0, 1], all randomness from `generator`; labels (n,) or None."""
        raise NotImplementedError

    @torch.no_grad()
    def sample(self, n: int, seed: int | None = None, labels: int | Sequence[int] | torch.Tensor | None = None,
               **options: Any) -> torch.Tensor:
        """`n` images (n, C, H, W) in [0, 1]; the same images for the same seed. `labels`: see the module docstring;
        `options`: the family's sampler options (`sample_options()`)."""
        unknown = set(options) - set(self.sample_options())
        if unknown:
            known = ", ".join(self.sample_options()) or "none"
            raise LabError(f"{type(self).__name__} has no sampler option {', '.join(sorted(unknown))}; "
                           f"its options: {known}")
        generator = torch.Generator()
        if seed is None:
            generator.seed()
        else:
            generator.manual_seed(int(seed))
        labels = self.sample_labels(n, labels)
        was_training = self.training
        self.eval()
        try:
            images = self.generate(n, generator, labels, **options)
        finally:
            self.train(was_training)
        return images.clamp(0, 1)

    @classmethod
    def sample_options(cls) -> list[str]:
        """Names of the keyword options `sample` passes on to `generate` (none for a VAE or GAN)."""
        parameters = list(inspect.signature(cls.generate).parameters.values())[4:]  # self, n, generator, labels
        return [p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]

    def sample_labels(self, n: int, labels: int | Sequence[int] | torch.Tensor | None) -> torch.Tensor | None:
        """`labels` as an (n,) long tensor on the module's device; None for an unconditional model."""
        if not self.conditional:
            if labels is not None:
                raise LabError(f"{type(self).__name__} is unconditional (model.conditional=false) and cannot draw "
                               "a given class; train a conditional model (experiment=cvae_mnist5k, cgan_mnist5k, ...)")
            return None
        if labels is None:
            labels = torch.arange(n) % self.num_classes
        labels = torch.as_tensor(labels, dtype=torch.long).flatten()
        if labels.numel() == 1:
            labels = labels.expand(n)
        if labels.numel() != n:
            raise LabError(f"labels must be one class or {n} classes, got {labels.numel()}")
        if int(labels.min()) < 0 or int(labels.max()) >= self.num_classes:
            raise LabError(f"labels must be classes 0..{self.num_classes - 1}, got {labels.unique().tolist()}")
        return labels.to(self.device)

    def randn(self, generator: torch.Generator, *shape: int) -> torch.Tensor:
        """N(0, I) noise from the (CPU) `generator`, on the module's device."""
        return torch.randn(*shape, generator=generator).to(self.device)

    def split_batch(self, batch) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(images, labels) of a datamodule batch, checked; labels None when the data has none."""
        x = batch[0] if isinstance(batch, (list, tuple)) else batch
        y = batch[1] if isinstance(batch, (list, tuple)) and len(batch) > 1 else None
        self.check_images(x)
        if self.conditional and y is None:
            raise LabError(f"{type(self).__name__} is conditional but the data gives no labels; "
                           "set model.conditional=false or use a labelled data set")
        return x, y

    def check_images(self, x: torch.Tensor) -> None:
        if tuple(x.shape[1:]) != self.image_shape:
            raise LabError(f"{type(self).__name__} is built for images of shape {list(self.image_shape)} but the data "
                           f"gives {list(x.shape[1:])}; set model.image_shape (and data.input_shape) to the data's shape")

    # pictures
    def sample_grid(self, seed: int = 0, per_class: int = 10, n: int = 64) -> tuple[torch.Tensor, int, str]:
        """(images, images per row, caption): one row per class for a conditional model, else n images."""
        if self.conditional:
            labels = torch.arange(self.num_classes).repeat_interleave(per_class)
            return self.sample(len(labels), seed=seed, labels=labels), per_class, "one row per class"
        return self.sample(n, seed=seed), int(n ** 0.5) or 1, "samples"

    def save_grid(self, key: str, images: torch.Tensor, nrow: int | None = None, caption: str | None = None) -> None:
        if self.trainer is None or not self.trainer.is_global_zero:
            return
        path = save_image_grid(images, image_path(self.trainer, key), nrow=nrow)
        log_image(self.trainer, key, path, caption=caption)

    def save_samples(self, key: str) -> None:
        images, nrow, caption = self.sample_grid()
        self.save_grid(key, images, nrow=nrow, caption=caption)

    # sample metrics: real features per evaluation batch, generated ones at the end
    def setup(self, stage: str) -> None:
        check_classifier_path(self.classifier_ckpt)  # here, not in __init__: Hydra would wrap the LabError
        if not self.use_sample_metrics or self.sample_metrics is not None or stage not in ("fit", "validate", "test"):
            return
        datamodule = getattr(self.trainer, "datamodule", None)
        loader = datamodule.train_dataloader if datamodule is not None else None
        scorer = load_scorer(self.classifier_ckpt, self.image_shape, self.num_classes, loader, self.classifier_epochs)
        self.sample_metrics = SampleMetrics(scorer)

    def on_validation_epoch_start(self) -> None:
        if self.sample_metrics is not None:
            self.sample_metrics.reset()

    on_test_epoch_start = on_validation_epoch_start

    def add_real(self, x: torch.Tensor) -> None:
        if self.sample_metrics is not None:
            self.sample_metrics.update_real(x)

    def log_sample_metrics(self, stage: str) -> None:
        if self.sample_metrics is None or self.sample_metrics.num_real < 2:
            return
        chunks = itertools.count()  # one seed per chunk of generated images
        result = self.sample_metrics.compute(
            lambda n, labels: self.sample(n, seed=SAMPLE_METRICS_SEED + next(chunks), labels=labels),
            num_classes=self.num_classes if self.conditional else None)
        self.log(f"{stage}/fd", result["fd"], prog_bar=True)
        self.log(f"{stage}/classes_covered", float(result["classes_covered"]), prog_bar=True)
        if "class_agreement" in result:
            self.log(f"{stage}/class_agreement", result["class_agreement"], prog_bar=True)
        if stage == "test" and self.trainer.is_global_zero:
            counts = result["class_counts"].numpy()
            figure, axis = new_figure(figsize=(5, 3))
            axis.bar(range(len(counts)), counts)
            axis.set(xlabel="class predicted by the metric classifier", ylabel="generated samples",
                     xticks=range(len(counts)), title=f"{result['classes_covered']} of {len(counts)} classes covered")
            path = save_figure(figure, image_path(self.trainer, "test/class_histogram"))
            log_image(self.trainer, "test/class_histogram", path)
