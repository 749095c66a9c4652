"""Generative models: training images/s of VAE and DCGAN steps, and the test metrics of the mnist5k experiments.

Everything runs through `lab.train.run_experiment` on the 5,000 embedded MNIST digits (4,000 train / 500 test),
not full MNIST: the numbers are not comparable with the literature's full-MNIST figures (about -85 to -100
nats for VAEs' NLL). The Fréchet distance is in the features of a LeNet-5 trained here (not Inception).
"""

from __future__ import annotations

import platform
import tempfile
import time
from pathlib import Path

import torch

TITLE = "Generative models (VAE, GAN) on mnist5k"
QUIET = ["logger=none", "~callbacks.progress_bar", "trainer.enable_progress_bar=false"]


def _run(overrides: list[str], out: Path) -> tuple[dict, float]:
    from lab.train import run_experiment

    start = time.perf_counter()
    metrics = run_experiment(QUIET + overrides, out)
    return metrics, time.perf_counter() - start


def run(quick: bool = False) -> str:
    root = Path(tempfile.mkdtemp(prefix="bench-generative-"))
    speed_batches = 10 if quick else 40
    lines = [f"Machine: {platform.machine()} CPU, {torch.get_num_threads()} torch threads (shared 2-core box: "
             "timings are noisy). Data: mnist5k (5,000 embedded MNIST digits), not full MNIST.", "",
             "| experiment | train images/s (batch 64) |", "| --- | ---: |"]
    for name in ("vae_mnist5k", "convvae_mnist5k", "gan_mnist5k", "dcgan_mnist5k"):
        metrics, _ = _run([f"experiment={name}", "trainer.max_epochs=1", f"+trainer.limit_train_batches={speed_batches}",
                           "+trainer.limit_val_batches=0", "model.sample_metrics=false", "test=false",
                           "callbacks.model_checkpoint=null"], root / f"speed_{name}")
        lines.append(f"| {name} | {metrics.get('perf/samples_per_sec', float('nan')):.0f} |")

    clf_epochs = 1 if quick else 3
    _run(["experiment=lenet_mnist5k", f"trainer.max_epochs={clf_epochs}", "test=false"], root / "classifier")
    classifier = root / "classifier" / "checkpoints" / "last.ckpt"
    epochs = {"vae_mnist5k": 3, "convvae_mnist5k": 3, "gan_mnist5k": 3, "dcgan_mnist5k": 2} if quick else {}
    lines += ["", f"Test metrics after training (Fréchet distance in the features of a LeNet-5 trained {clf_epochs} "
              "epoch(s) on the same data; 500 test images vs 500 samples; classes covered = classes given >= 1/4 "
              "of a uniform share of the samples by that classifier):", "",
              "| experiment | epochs | test ELBO (nats) | test IW-NLL k=64 (nats) | Fréchet distance | classes covered "
              "| fit time (s) |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for name in ("vae_mnist5k", "convvae_mnist5k", "gan_mnist5k", "dcgan_mnist5k"):
        extra = [f"trainer.max_epochs={epochs[name]}"] if name in epochs else []
        metrics, _ = _run([f"experiment={name}", f"model.classifier_ckpt={classifier}"] + extra, root / name)
        from omegaconf import OmegaConf

        n_epochs = OmegaConf.load(root / name / "config.yaml").trainer.max_epochs

        def fmt(key: str) -> str:
            return f"{metrics[key]:.1f}" if key in metrics else "-"

        lines.append(f"| {name} | {n_epochs} | {fmt('test/elbo')} | {fmt('test/nll_iw')} | {fmt('test/fd')} | "
                     f"{metrics.get('test/classes_covered', float('nan')):.0f} | {metrics['time/fit_seconds']:.0f} |")
    return "\n".join(lines)
