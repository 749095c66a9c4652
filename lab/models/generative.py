"""What VAEs and GANs share: an image-shape check, sampling with a seed, picture saving, and sample metrics."""

from __future__ import annotations

from typing import Sequence

import pytorch_lightning as pl
import torch

from lab.errors import LabError
from lab.models.gen_metrics import SampleMetrics, check_classifier_path, load_scorer
from lab.nets.shapes import check_latent
from lab.callbacks.viz import image_path, log_image, new_figure, save_figure, save_image_grid


class GenerativeModule(pl.LightningModule):
    """Subclasses implement `decode_latent(z) -> images in [0, 1]`; `sample(n)` draws z ~ N(0, I) and decodes."""

    def __init__(self, image_shape: Sequence[int], latent_dim: int, classifier_ckpt: str | None = None,
                 sample_metrics: bool = True, num_classes: int = 10, classifier_epochs: int = 2) -> None:
        super().__init__()
        self.image_shape = tuple(int(s) for s in image_shape)
        self.latent_dim = check_latent(latent_dim)
        self.classifier_ckpt, self.use_sample_metrics = classifier_ckpt, sample_metrics
        self.num_classes, self.classifier_epochs = num_classes, classifier_epochs
        self.sample_metrics: SampleMetrics | None = None

    def decode_latent(self, z: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    @torch.no_grad()
    def sample(self, n: int, seed: int | None = None) -> torch.Tensor:
        """`n` images (n, C, H, W) in [0, 1] from z ~ N(0, I); the same images for the same seed."""
        generator = torch.Generator().manual_seed(seed) if seed is not None else None
        z = torch.randn(n, self.latent_dim, generator=generator).to(self.device)
        return self.decode_latent(z)

    def check_images(self, x: torch.Tensor) -> None:
        if tuple(x.shape[1:]) != self.image_shape:
            raise LabError(f"{type(self).__name__} is built for images of shape {list(self.image_shape)} but the data "
                           f"gives {list(x.shape[1:])}; set model.image_shape (and data.input_shape) to the data's shape")

    def setup(self, stage: str) -> None:
        check_classifier_path(self.classifier_ckpt)  # here, not in __init__: Hydra would wrap the LabError
        if not self.use_sample_metrics or self.sample_metrics is not None or stage not in ("fit", "validate", "test"):
            return
        datamodule = getattr(self.trainer, "datamodule", None)
        loader = datamodule.train_dataloader if datamodule is not None else None
        scorer = load_scorer(self.classifier_ckpt, self.image_shape, self.num_classes, loader, self.classifier_epochs)
        self.sample_metrics = SampleMetrics(scorer)

    def save_grid(self, key: str, images: torch.Tensor, nrow: int | None = None, caption: str | None = None) -> None:
        if self.trainer is None or not self.trainer.is_global_zero:
            return
        path = save_image_grid(images, image_path(self.trainer, key), nrow=nrow)
        log_image(self.trainer, key, path, caption=caption)

    # evaluation loops: real features per batch, generated ones at the end
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
        was_training = self.training
        self.eval()
        generator = torch.Generator().manual_seed(1234)
        with torch.no_grad():
            result = self.sample_metrics.compute(
                lambda n: self.decode_latent(torch.randn(n, self.latent_dim, generator=generator).to(self.device)))
        self.train(was_training)
        self.log(f"{stage}/fd", result["fd"], prog_bar=True)
        self.log(f"{stage}/classes_covered", float(result["classes_covered"]), prog_bar=True)
        if stage == "test" and self.trainer.is_global_zero:
            counts = result["class_counts"].numpy()
            figure, axis = new_figure(figsize=(5, 3))
            axis.bar(range(len(counts)), counts)
            axis.set(xlabel="class predicted by the metric classifier", ylabel="generated samples",
                     xticks=range(len(counts)), title=f"{result['classes_covered']} of {len(counts)} classes covered")
            path = save_figure(figure, image_path(self.trainer, "test/class_histogram"))
            log_image(self.trainer, "test/class_histogram", path)
