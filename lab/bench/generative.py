"""Generative models: training images/s of VAE and GAN steps, and the test metrics of the mnist5k experiments.

Everything runs through `lab.train.run_experiment` on the 5,000 embedded MNIST digits (4,000 train / 500 test),
not full MNIST: the numbers are not comparable with the literature's full-MNIST figures (an MLP VAE's NLL is
about 85-100 nats there). The Fréchet distance is in the features of a LeNet-5 trained here (not Inception).
Quick mode trains for a few epochs; the full run uses each experiment's shipped epochs.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import torch
from omegaconf import OmegaConf

from lab.bench import table
from lab.train import run_experiment

DOC = "results.md"
TITLE = "Generative models (VAE, GAN) on mnist5k"
QUIET = ["logger=none", "~callbacks.progress_bar", "trainer.enable_progress_bar=false"]
EXPERIMENTS = ("vae_mnist5k", "convvae_mnist5k", "gan_mnist5k", "dcgan_mnist5k")
QUICK_EPOCHS = {"vae_mnist5k": 3, "convvae_mnist5k": 3, "gan_mnist5k": 3, "dcgan_mnist5k": 2}


def run(quick: bool = False) -> str:
    root = Path(tempfile.mkdtemp(prefix="bench-generative-"))
    speed = []
    for name in EXPERIMENTS:
        metrics = run_experiment(QUIET + [f"experiment={name}", "trainer.max_epochs=1", "model.sample_metrics=false",
                                          f"+trainer.limit_train_batches={10 if quick else 40}", "test=false",
                                          "+trainer.limit_val_batches=0", "callbacks.model_checkpoint=null"],
                                 root / f"speed_{name}")
        speed.append([name, metrics.get("perf/samples_per_sec", float("nan"))])

    clf_epochs = 1 if quick else 3
    run_experiment(QUIET + ["experiment=lenet_mnist5k", f"trainer.max_epochs={clf_epochs}", "test=false"],
                   root / "classifier")
    classifier = root / "classifier" / "checkpoints" / "last.ckpt"
    rows = []
    for name in EXPERIMENTS:
        extra = [f"trainer.max_epochs={QUICK_EPOCHS[name]}"] if quick else []
        m = run_experiment(QUIET + [f"experiment={name}", f"model.classifier_ckpt={classifier}"] + extra, root / name)
        epochs = OmegaConf.load(root / name / "config.yaml").trainer.max_epochs
        rows.append([name, epochs, m.get("test/elbo", "-"), m.get("test/nll_iw", "-"), m["test/fd"],
                     int(m["test/classes_covered"]), m["time/fit_seconds"]])
    return "\n".join([
        f"{torch.get_num_threads()} torch thread(s). Data: mnist5k (5,000 embedded MNIST digits), not full MNIST.", "",
        table(["experiment", "train images/s (batch 64)"], speed), "",
        f"Test metrics (nats per image; Fréchet distance in the features of a LeNet-5 trained {clf_epochs} epoch(s) "
        "on the same data, 500 test images vs 500 samples; classes covered = classes given >= 1/4 of a uniform "
        "share of the samples by that classifier):", "",
        table(["experiment", "epochs", "test ELBO", "test IW-NLL (k=64)", "Fréchet distance", "classes covered",
               "fit s"], rows)])
