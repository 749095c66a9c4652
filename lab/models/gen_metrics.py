"""Sample quality in the features of the lab's own classifier: Fréchet distance and mode coverage.

No Inception weights can be downloaded here, so the features are the inputs of the last linear layer of a
lab classifier trained on the same data (LeNet-5: 84 numbers per image). The Fréchet distance between
Gaussians fitted to real and generated features is computed in float64 from eigen-decompositions (no scipy,
no torch-fidelity). Mode coverage counts the classes that receive at least a quarter of a uniform share of
the generated samples under the classifier.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from lab.errors import LabError

log = logging.getLogger("lab")


def frechet_distance(mu1: torch.Tensor, sigma1: torch.Tensor, mu2: torch.Tensor, sigma2: torch.Tensor) -> float:
    """||mu1 - mu2||^2 + tr(S1 + S2 - 2 (S1^1/2 S2 S1^1/2)^1/2), all in float64."""
    mu1, mu2, sigma1, sigma2 = (t.double() for t in (mu1, mu2, sigma1, sigma2))
    values, vectors = torch.linalg.eigh(sigma1)
    root1 = vectors @ torch.diag(values.clamp(min=0).sqrt()) @ vectors.T
    middle = torch.linalg.eigvalsh(root1 @ sigma2 @ root1).clamp(min=0).sqrt().sum()
    return float((mu1 - mu2).pow(2).sum() + sigma1.trace() + sigma2.trace() - 2 * middle)


def feature_stats(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    features = features.double()
    return features.mean(0), torch.cov(features.T)


def class_coverage(counts: torch.Tensor, min_share: float = 0.25) -> int:
    """Classes with at least `min_share` of the uniform share of the samples."""
    threshold = min_share * counts.sum() / len(counts)
    return int((counts >= threshold).sum())


def _last_linear(net: nn.Module) -> nn.Linear:
    linears = [m for m in net.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise LabError(f"the metric classifier {type(net).__name__} has no linear layer to take features from")
    return linears[-1]


class SampleScorer:
    """Wraps a trained classifier net: features and predictions of batches of images in [0, 1]."""

    def __init__(self, net: nn.Module, image_shape: Sequence[int], source: str) -> None:
        self.net = net.eval().requires_grad_(False)
        self.head = _last_linear(net)
        self.num_features, self.num_classes = self.head.in_features, self.head.out_features
        self.source = source
        try:
            self.net(torch.zeros(2, *image_shape))
        except RuntimeError as error:
            raise LabError(f"the metric classifier ({source}) does not take images of shape {list(image_shape)} "
                           f"({error}); give a classifier trained on the same data") from None

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(features, predicted class) of `images`."""
        self.net.to(images.device)
        captured = []
        handle = self.head.register_forward_hook(lambda m, inputs, out: captured.append(inputs[0]))
        try:
            logits = self.net(images)
        finally:
            handle.remove()
        return captured[0].flatten(1).float(), logits.argmax(-1)


def check_classifier_path(path: str | None) -> None:
    if path and not Path(path).is_file():
        raise LabError(f"classifier checkpoint {path} does not exist (model.classifier_ckpt); train one with "
                       "`python scripts/train.py experiment=lenet_mnist5k` and pass <run dir>/checkpoints/last.ckpt, "
                       "or set model.classifier_ckpt=null to train one quickly in-process")


def load_scorer(path: str | None, image_shape: Sequence[int], num_classes: int,
                train_loader: Callable[[], torch.utils.data.DataLoader] | None, epochs: int = 2) -> SampleScorer:
    """The classifier at `path` (a lab checkpoint), or a LeNet-5 trained for `epochs` on `train_loader()`."""
    if path:
        check_classifier_path(path)
        from lab.run.checkpoint import load_module

        module, _ = load_module(path)
        net = getattr(module, "net", module)
        return SampleScorer(net, image_shape, f"checkpoint {path}")
    if train_loader is None:
        raise LabError("no classifier for the sample metrics: set model.classifier_ckpt=PATH or train with a datamodule")
    from lab.nets.lenet import LeNet5

    torch.manual_seed(0)
    net = LeNet5(tuple(image_shape), num_classes)
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    correct = seen = 0
    for epoch in range(epochs):
        for x, y in train_loader():
            logits = net(x)
            loss = F.cross_entropy(logits, y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            if epoch == epochs - 1:
                correct += int((logits.argmax(-1) == y).sum())
                seen += len(y)
    log.warning("no classifier checkpoint given (model.classifier_ckpt): trained a LeNet-5 in-process for %d epochs "
                "for the Fréchet distance and mode coverage (train accuracy %.3f in the last epoch); pass a "
                "classifier checkpoint for numbers comparable across runs", epochs, correct / max(seen, 1))
    return SampleScorer(net, image_shape, f"LeNet-5 trained in-process for {epochs} epochs")


class SampleMetrics:
    """Accumulates real-image features over an evaluation loop, then scores generated images against them."""

    def __init__(self, scorer: SampleScorer) -> None:
        self.scorer = scorer
        self.real: list[torch.Tensor] = []

    def reset(self) -> None:
        self.real = []

    def update_real(self, images: torch.Tensor) -> None:
        self.real.append(self.scorer(images)[0].cpu())

    @property
    def num_real(self) -> int:
        return sum(len(r) for r in self.real)

    def compute(self, generate: Callable[[int, torch.Tensor | None], torch.Tensor], n: int | None = None,
                chunk: int = 500, num_classes: int | None = None) -> dict:
        """{'fd', 'classes_covered', 'class_counts'} for `n` (default: as many as real) images from
        `generate(n, labels)`; with `num_classes` (a conditional model) labels are balanced (i % num_classes) and
        'class_agreement' is the fraction of images the classifier assigns to the class they were drawn for."""
        n = n or self.num_real
        if self.num_real < 2 or n < 2:
            raise LabError("the Fréchet distance needs at least 2 real and 2 generated images")
        wanted = torch.arange(n) % num_classes if num_classes else None
        fake, predicted = [], []
        for start in range(0, n, chunk):
            labels = wanted[start:start + chunk] if wanted is not None else None
            features, classes = self.scorer(generate(min(chunk, n - start), labels))
            fake.append(features.cpu())
            predicted.append(classes.cpu())
        predicted = torch.cat(predicted)
        fd = frechet_distance(*feature_stats(torch.cat(self.real)), *feature_stats(torch.cat(fake)))
        counts = torch.bincount(predicted, minlength=self.scorer.num_classes)
        result = {"fd": fd, "classes_covered": class_coverage(counts), "class_counts": counts}
        if wanted is not None:
            result["class_agreement"] = float((predicted == wanted).float().mean())
        return result
