"""GPU readiness: every family for a few steps under 32, bf16-mixed and 16-mixed, one DDP run on every visible
GPU, and PPO on the lab's torch-batched CartPole with 4,096 envs on the GPU. Without CUDA it says so.

Each run is its own `python -m lab.train` process (DDP needs one; a failure stays in its row). "ok" means the run
finished and wrote metrics.json; the rate is optimiser steps per second of `Trainer.fit` (start-up included, so
short runs understate it), and env steps per second for RL.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

from lab.bench import machine, table
from lab.run.resources import train_command

DOC = "benchmarks.md"
TITLE = "GPU readiness: families x precisions, DDP, batched envs on the GPU"
QUIET = ["logger=none", "trainer.enable_progress_bar=false", "test=false", "trainer.accelerator=gpu"]
PRECISIONS = ("32-true", "bf16-mixed", "16-mixed")
# one experiment per family, with the few steps it runs
FAMILIES = {
    "feed-forward": ["experiment=digits_mlp", "trainer.max_epochs=2"],
    "convolutional (LeNet)": ["experiment=lenet_mnist5k", "trainer.max_epochs=1"],
    "convolutional (ResNet)": ["experiment=resnet_mnist5k", "trainer.max_epochs=1", "+trainer.limit_train_batches=40"],
    "convolutional (DenseNet)": ["experiment=densenet_mnist5k", "trainer.max_epochs=1", "+trainer.limit_train_batches=40"],
    "sequence (char LSTM)": ["experiment=charlm_lstm", "trainer.max_epochs=1", "+trainer.limit_train_batches=40"],
    "sequence (attention)": ["experiment=charlm_attention", "trainer.max_epochs=1", "+trainer.limit_train_batches=40"],
    "sequence (forecaster)": ["experiment=forecast_lstm", "trainer.max_epochs=2"],
    "VAE": ["experiment=vae_mnist5k", "trainer.max_epochs=1", "model.sample_metrics=false"],
    "GAN (DCGAN)": ["experiment=dcgan_mnist5k", "trainer.max_epochs=1", "model.sample_metrics=false",
                    "+trainer.limit_train_batches=40"],
    "actor-critic (PPO)": ["experiment=ppo_cartpole", "model.total_timesteps=8192", "model.eval_every=0"],
    "value-based (DQN)": ["experiment=dqn_cartpole", "model.total_timesteps=3000", "model.eval_every=0"],
    "off-policy (SAC)": ["experiment=sac_pendulum", "model.total_timesteps=1500", "model.eval_every=0"],
}


def _run(overrides: list[str]) -> tuple[str, str]:
    """(ok | failed: reason, rate) of one configuration in a fresh process."""
    with tempfile.TemporaryDirectory(prefix="lab-bench-gpu-") as out:
        result = subprocess.run([*train_command(), *QUIET, *overrides, f"hydra.run.dir={out}"],
                                capture_output=True, text=True)
        metrics_file = Path(out, "metrics.json")
        if result.returncode != 0 or not metrics_file.exists():
            lines = [line for line in (result.stderr or result.stdout).strip().splitlines() if line.strip()]
            return f"failed: {(lines or ['no output'])[-1][:120]}", "-"
        metrics = json.loads(metrics_file.read_text())
    if "perf/env_steps_per_sec" in metrics:
        return "ok", f"{metrics['perf/env_steps_per_sec']:,.0f} env steps/s"
    return "ok", f"{metrics['trainer/global_step'] / max(metrics['time/fit_seconds'], 1e-9):,.1f} steps/s"


def run(quick: bool = False) -> str:
    import torch

    if not torch.cuda.is_available():
        return f"No CUDA device on this machine ({machine()}): nothing to measure. Run `lab-bench gpu` on a GPU machine."
    families = dict(list(FAMILIES.items())[:3]) if quick else FAMILIES
    rows = []
    for family, overrides in families.items():
        for precision in PRECISIONS:
            status, rate = _run([*overrides, f"trainer.precision={precision}"])
            rows.append([family, precision, status, rate])
    gpus = torch.cuda.device_count()
    status, rate = _run(["experiment=lenet_mnist5k", "trainer=ddp", f"trainer.devices={gpus}", "trainer.max_epochs=1"])
    rows.append([f"DDP, {gpus} GPU(s), NCCL (LeNet)", "32-true", status, rate])
    status, rate = _run(["experiment=ppo_lab_cartpole", "model.num_envs=4096", "model.num_steps=32",
                         "model.total_timesteps=1310720", "model.eval_every=0", "model.stop_on_solve=false",
                         "model.num_minibatches=8"])
    rows.append(["PPO, lab/CartPole-v1, 4,096 envs on the GPU", "32-true", status, rate])
    return "\n".join([table(["family", "precision", "status", "rate"], rows)])
