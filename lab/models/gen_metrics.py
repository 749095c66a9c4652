"""Sample quality in the features of one cached classifier: Fréchet distance, class coverage, class agreement.

No Inception weights can be downloaded here, so the features are the inputs of the last linear layer of a
classifier of the same data (LeNet-5: 84 numbers per image). The classifier is trained once per data set and
cached in $LAB_CACHE/metric_classifiers (default ~/.cache/lab), keyed by a hash of the training images and
labels and of the classifier's settings, so every run on the same data is scored in the same feature space.
The Fréchet distance is torchmetrics' `FrechetInceptionDistance` with that feature extractor as `feature`.
Class coverage counts the classes that receive at least a quarter of a uniform share of the generated
samples; class agreement (conditional models) is the fraction of samples drawn for class c that the
classifier labels c.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset
from torchmetrics.image.fid import FrechetInceptionDistance

from lab.errors import LabError

log = logging.getLogger("lab")

CLASSIFIER = {"net": "LeNet5", "optimizer": "Adam", "lr": 2e-3, "batch_size": 64, "seed": 0, "version": 1}


def cache_dir() -> Path:
    """$LAB_CACHE (the lab's cache, shared with the embedded data sets), default $XDG_CACHE_HOME/lab or ~/.cache/lab."""
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "lab"
    return Path(os.environ.get("LAB_CACHE", default))


def class_coverage(counts: torch.Tensor, min_share: float = 0.25) -> int:
    """Classes with at least `min_share` of the uniform share of the samples."""
    threshold = min_share * counts.sum() / len(counts)
    return int((counts >= threshold).sum())


def _last_linear(net: nn.Module) -> nn.Linear:
    linears = [m for m in net.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise LabError(f"the metric classifier {type(net).__name__} has no linear layer to take features from")
    return linears[-1]


class ClassifierFeatures(nn.Module):
    """A classifier's features (the input of its last linear layer) of images in [0, 1], for torchmetrics'
    `feature`; `predicted` holds the classes of the last batch."""

    def __init__(self, net: nn.Module, image_shape: Sequence[int], source: str) -> None:
        super().__init__()
        self.net = net.eval().requires_grad_(False)
        self.head = _last_linear(net)
        self.num_features, self.num_classes = self.head.in_features, self.head.out_features
        self.source = source
        self.predicted = torch.zeros(0, dtype=torch.long)
        try:
            self.net(torch.zeros(2, *image_shape))
        except RuntimeError as error:
            raise LabError(f"the metric classifier ({source}) does not take images of shape {list(image_shape)} "
                           f"({error}); give a classifier trained on the same data") from None

    def train(self, mode: bool = True) -> "ClassifierFeatures":
        return super().train(False)  # always scores in eval mode

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        captured = []
        handle = self.head.register_forward_hook(lambda m, inputs, out: captured.append(inputs[0]))
        try:
            logits = self.net(images.float())
        finally:
            handle.remove()
        self.predicted = logits.argmax(-1)
        return captured[0].flatten(1).float()


def check_classifier_path(path: str | None) -> None:
    if path and not Path(path).is_file():
        raise LabError(f"classifier checkpoint {path} does not exist (model.classifier_ckpt); train one with "
                       "`lab-train experiment=lenet_mnist5k` and pass <run dir>/checkpoints/last.ckpt, "
                       "or set model.classifier_ckpt=null to use the cached LeNet-5 of the data set")


def dataset_digest(dataset: Dataset) -> str:
    """sha256 of every (image, label) of `dataset`, in order."""
    digest = hashlib.sha256()
    for batch in DataLoader(dataset, batch_size=1024, shuffle=False):
        for tensor in batch if isinstance(batch, (list, tuple)) else (batch,):
            digest.update(str((tuple(tensor.shape), tensor.dtype)).encode())
            digest.update(tensor.contiguous().numpy().tobytes())
    return digest.hexdigest()


def train_classifier(dataset: Dataset, image_shape: Sequence[int], num_classes: int, epochs: int) -> nn.Module:
    """A LeNet-5 trained with the settings of CLASSIFIER; the global RNG is left as it was."""
    from lab.nets.lenet import LeNet5

    with torch.random.fork_rng():
        torch.manual_seed(CLASSIFIER["seed"])
        net = LeNet5(tuple(image_shape), num_classes)
        opt = torch.optim.Adam(net.parameters(), lr=CLASSIFIER["lr"])
        loader = DataLoader(dataset, batch_size=CLASSIFIER["batch_size"], shuffle=True,
                            generator=torch.Generator().manual_seed(CLASSIFIER["seed"]))
        correct = seen = 0
        for epoch in range(epochs):
            for x, y in loader:
                logits = net(x)
                loss = F.cross_entropy(logits, y)
                opt.zero_grad()
                loss.backward()
                opt.step()
                if epoch == epochs - 1:
                    correct += int((logits.argmax(-1) == y).sum())
                    seen += len(y)
    log.info("trained the metric classifier (LeNet-5, %d epochs, train accuracy %.3f in the last epoch)",
             epochs, correct / max(seen, 1))
    return net.eval()


def cached_classifier(dataset: Dataset, image_shape: Sequence[int], num_classes: int,
                      epochs: int = 2) -> tuple[nn.Module, Path, bool]:
    """(classifier, its cache file, whether it was trained now): trained once per data set and settings."""
    config = {**CLASSIFIER, "image_shape": list(image_shape), "num_classes": num_classes, "epochs": epochs}
    key = hashlib.sha256((dataset_digest(dataset) + json.dumps(config, sort_keys=True)).encode()).hexdigest()[:20]
    path = cache_dir() / "metric_classifiers" / f"lenet5_{key}.pt"
    from lab.nets.lenet import LeNet5

    net = LeNet5(tuple(image_shape), num_classes)
    try:
        net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        return net.eval(), path, False
    except (OSError, RuntimeError, EOFError):  # absent or corrupt: train it
        pass
    net = train_classifier(dataset, image_shape, num_classes, epochs)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.tmp")
        torch.save(net.state_dict(), partial)
        partial.replace(path)
    except OSError:
        log.warning("could not write the metric classifier to %s; it will be trained again next run", path)
    return net, path, True


def load_scorer(path: str | None, image_shape: Sequence[int], num_classes: int,
                train_loader: Callable[[], DataLoader] | None, epochs: int = 2) -> ClassifierFeatures:
    """The classifier at `path` (a lab checkpoint), or the cached LeNet-5 of `train_loader()`'s data set."""
    if path:
        check_classifier_path(path)
        from lab.run.checkpoint import load_module

        module, _ = load_module(path)
        net = getattr(module, "net", module)
        return ClassifierFeatures(net, image_shape, f"checkpoint {path}")
    if train_loader is None:
        raise LabError("no classifier for the sample metrics: set model.classifier_ckpt=PATH or train with a datamodule")
    net, cache, _ = cached_classifier(train_loader().dataset, image_shape, num_classes, epochs)
    return ClassifierFeatures(net, image_shape, f"cached LeNet-5 {cache}")


class SampleMetrics:
    """Real-image features accumulated over an evaluation loop, then generated images scored against them."""

    def __init__(self, scorer: ClassifierFeatures) -> None:
        self.scorer = scorer
        self.fid = FrechetInceptionDistance(feature=scorer, reset_real_features=True)

    def reset(self) -> None:
        self.fid.reset()

    def update_real(self, images: torch.Tensor) -> None:
        self.fid.update(images.detach().cpu(), real=True)

    @property
    def num_real(self) -> int:
        return int(self.fid.real_features_num_samples)

    def compute(self, generate: Callable[[int, torch.Tensor | None], torch.Tensor], n: int | None = None,
                chunk: int = 500, num_classes: int | None = None) -> dict:
        """{'fd', 'classes_covered', 'class_counts'} for `n` (default: as many as real) images from
        `generate(n, labels)`; with `num_classes` (a conditional model) labels are balanced (i % num_classes) and
        'class_agreement' is the fraction of images the classifier assigns to the class they were drawn for."""
        n = n or self.num_real
        if self.num_real < 2 or n < 2:
            raise LabError("the Fréchet distance needs at least 2 real and 2 generated images")
        wanted = torch.arange(n) % num_classes if num_classes else None
        predicted = []
        for start in range(0, n, chunk):
            labels = wanted[start:start + chunk] if wanted is not None else None
            self.fid.update(generate(min(chunk, n - start), labels).detach().cpu(), real=False)
            predicted.append(self.scorer.predicted)
        predicted = torch.cat(predicted)
        counts = torch.bincount(predicted, minlength=self.scorer.num_classes)
        result = {"fd": float(self.fid.compute()), "classes_covered": class_coverage(counts), "class_counts": counts}
        if wanted is not None:
            result["class_agreement"] = float((predicted == wanted).float().mean())
        return result
