"""DDP on CPU (gloo, 2 processes): Lightning's launcher, torchrun as 2 nodes, and SLURM's environment.

Each run adds the RankReport callback, which writes what every rank did to <run dir>/ranks/rank<R>.json/.pt.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest
import torch

from tests.conftest import REPO

pytestmark = pytest.mark.slow

QUIET = ["logger=none", "trainer.enable_progress_bar=false",
         "+callbacks.rank_report._target_=lab.callbacks.rank_report.RankReport"]
XOR_TRAIN = 256  # examples in XOR's training split (4 points x 64 repeats)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def env(**extra) -> dict:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "MASTER_", "LOCAL_RANK", "RANK",
                                                                     "WORLD_SIZE", "NODE_RANK", "TORCHELASTIC"))}
    return base | {"PYTHONPATH": str(REPO), "WANDB_MODE": "offline", "WANDB_SILENT": "true"} | extra


def ranks(run_dir):
    return json.loads((run_dir / "ranks" / "rank0.json").read_text()), torch.load(run_dir / "ranks" / "rank0.pt")


def same_params(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    return max(float((a[k].float() - b[k].float()).abs().max()) for k in a if a[k].is_floating_point())


def test_ddp_two_gloo_processes_match_one_process_with_the_same_global_batch(tmp_path, run_exp):
    epochs = 8
    launch, run_dir = tmp_path / "launch", tmp_path / "ddp"
    launch.mkdir()
    overrides = ["experiment=xor_mlp", f"trainer.max_epochs={epochs}", *QUIET]
    command = [sys.executable, str(REPO / "scripts" / "train.py"), *overrides, "logger=wandb", "trainer=ddp",
               "trainer.devices=2", "data.batch_size=8", f"hydra.run.dir={run_dir}"]
    result = subprocess.run(command, cwd=launch, env=env(MASTER_PORT=str(free_port())), capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    reports = [json.loads((run_dir / "ranks" / f"rank{r}.json").read_text()) for r in (0, 1)]
    params = [torch.load(run_dir / "ranks" / f"rank{r}.pt") for r in (0, 1)]
    assert same_params(*params) == 0.0                     # gradients were all-reduced every step
    steps = epochs * (XOR_TRAIN // 2 // 8)                 # each rank: half the data, 8 per step
    assert [r["global_step"] for r in reports] == [steps, steps]
    assert [r["samples"] for r in reports] == [epochs * XOR_TRAIN // 2] * 2   # the data were sharded
    assert {r["world_size"] for r in reports} == {2} and reports[0]["strategy"] == "DDPStrategy"
    ddp_metrics = json.loads((run_dir / "metrics.json").read_text())
    assert len(list((run_dir / "wandb").glob("offline-run-*"))) == 1    # rank 0 alone made the W&B run
    assert list(launch.iterdir()) == []                                    # nothing lands in the launch dir
    assert [p.name for p in run_dir.glob("*.log")] == ["train.log"]       # rank 1 shared it, with nothing to log

    single = run_exp(["experiment=xor_mlp", f"trainer.max_epochs={epochs}", "data.batch_size=16",
                      "+callbacks.rank_report._target_=lab.callbacks.rank_report.RankReport"])
    assert single["trainer/global_step"] == steps
    assert ddp_metrics["test/acc"] == single["test/acc"] == 1.0
    assert abs(ddp_metrics["train/loss_epoch"] - single["train/loss_epoch"]) < 0.1


def test_a_ddp_run_destroys_its_process_group_before_it_returns(run_exp, monkeypatch):
    # A gloo group left alive until the interpreter exits can abort the process (exit 134) as its threads die.
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", str(free_port()))
    metrics = run_exp(["experiment=xor_mlp", "trainer.max_epochs=1", "trainer=ddp", "trainer.devices=1",
                       "trainer.accelerator=cpu", "test=false"])
    assert metrics["trainer/global_step"] == XOR_TRAIN // 16
    assert not torch.distributed.is_initialized()


def test_two_torchrun_nodes_on_one_machine_train_together(tmp_path):
    port = free_port()
    overrides = ["experiment=xor_mlp", "trainer.max_epochs=2", *QUIET, "trainer=ddp", "trainer.num_nodes=2",
                 "trainer.devices=1"]
    procs = [subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--nnodes=2", "--nproc_per_node=1",
                               f"--node_rank={node}", "--master_addr=127.0.0.1", f"--master_port={port}",
                               str(REPO / "scripts" / "train.py"), *overrides, f"hydra.run.dir={tmp_path / f'node{node}'}"],
                              cwd=tmp_path, env=env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for node in (0, 1)]
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs[1][-2000:] + outputs[0][-2000:]
    node0, node1 = tmp_path / "node0", tmp_path / "node1"
    r0 = json.loads((node0 / "ranks" / "rank0.json").read_text())
    r1 = json.loads((node1 / "ranks" / "rank1.json").read_text())
    assert (r0["node_rank"], r1["node_rank"], r1["world_size"]) == (0, 1, 2)
    assert r0["cluster_environment"] == r1["cluster_environment"] == "TorchElasticEnvironment"
    assert r0["global_step"] == r1["global_step"] == 2 * XOR_TRAIN // 2 // 16
    assert same_params(torch.load(node0 / "ranks" / "rank0.pt"), torch.load(node1 / "ranks" / "rank1.pt")) == 0.0
    assert (node0 / "metrics.json").exists() and not (node1 / "metrics.json").exists()


SBATCH = REPO / "scripts" / "slurm" / "train.sbatch"
FAKE_SRUN = """#!/bin/bash
# srun on one machine: start SLURM_NTASKS copies of the command with the per-task variables SLURM sets.
while [[ "${1:-}" == -* ]]; do shift; done
echo "$@" > "$SRUN_LOG"
pids=()
for ((i = 0; i < SLURM_NTASKS; i++)); do SLURM_PROCID=$i SLURM_LOCALID=$i "$@" & pids+=($!); done
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=$?; done
exit $status
"""


def test_batch_file_is_valid_bash_and_srun_runs_train():
    assert subprocess.run(["bash", "-n", str(SBATCH)]).returncode == 0
    text = SBATCH.read_text()
    assert "#SBATCH --nodes=" in text and "#SBATCH --gpus-per-node=" in text and "#SBATCH --time=" in text
    srun = [line for line in text.splitlines() if line.startswith("srun ")]
    assert len(srun) == 1 and "scripts/train.py trainer=ddp" in srun[0]


def test_slurm_two_tasks_pick_slurm_environment_and_train_together(tmp_path):
    bin_dir, run_dir = tmp_path / "bin", tmp_path / "run"
    bin_dir.mkdir()
    (bin_dir / "srun").write_text(FAKE_SRUN)
    (bin_dir / "srun").chmod(0o755)
    slurm = {"SLURM_NTASKS": "2", "SLURM_NTASKS_PER_NODE": "2", "SLURM_NNODES": "1", "SLURM_NODEID": "0",
             "SLURM_JOB_ID": "4242", "SLURM_JOB_NAME": "labtest", "SLURM_NODELIST": "127.0.0.1",
             "SLURM_SUBMIT_DIR": str(REPO), "MASTER_PORT": str(free_port()), "LAB_RUN_DIR": str(run_dir),
             "PATH": f"{bin_dir}:{os.environ['PATH']}", "PYTHON": sys.executable,
             "SRUN_LOG": str(tmp_path / "srun.txt")}
    result = subprocess.run(["bash", str(SBATCH), "experiment=xor_mlp", "trainer.max_epochs=2", *QUIET],
                            env=env(**slurm), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "terminate called" not in result.stderr
    assert "scripts/train.py trainer=ddp trainer.num_nodes=1 trainer.devices=2" in (tmp_path / "srun.txt").read_text()
    reports = [json.loads((run_dir / "ranks" / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["cluster_environment"] for r in reports] == ["SLURMEnvironment"] * 2
    assert [r["global_rank"] for r in reports] == [0, 1] and reports[1]["world_size"] == 2
    params = [torch.load(run_dir / "ranks" / f"rank{r}.pt") for r in (0, 1)]
    assert same_params(*params) == 0.0
    assert (run_dir / "metrics.json").exists() and (run_dir / "train_rank1.log").exists()


def test_ppo_under_ddp_two_ranks_share_one_budget_and_stay_in_sync(tmp_path):
    run_dir = tmp_path / "ppo"
    # per rank: 8 envs x 32 steps = 256 env steps per rollout; 2 ranks -> 512 per epoch; 1024 -> 2 epochs,
    # each epoch update_epochs=4 x num_minibatches=2 = 8 optimiser steps.
    command = [sys.executable, str(REPO / "scripts" / "train.py"), "experiment=ppo_chain", "model.total_timesteps=1024",
               "model.num_envs=8", "model.num_steps=32", "model.update_epochs=4", "model.num_minibatches=2",
               *QUIET, "trainer=ddp", "trainer.devices=2", f"hydra.run.dir={run_dir}"]
    result = subprocess.run(command, cwd=tmp_path, env=env(MASTER_PORT=str(free_port())), capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    reports = [json.loads((run_dir / "ranks" / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["global_step"] for r in reports] == [16, 16]
    params = [torch.load(run_dir / "ranks" / f"rank{r}.pt") for r in (0, 1)]
    assert same_params(*params) == 0.0
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["train/env_steps"] == 1024 and metrics["perf/env_steps_per_sec"] > 0


TINY = ["trainer.max_epochs=1", "trainer.limit_train_batches=4", "trainer.limit_val_batches=2", "test=false",
        "callbacks.model_checkpoint.monitor=null"]


@pytest.mark.parametrize("family", [
    # manual optimisation (D then G): each backward leaves the other net's parameters unused, so DDP must be told
    ["experiment=gan_mnist5k", "model.sample_metrics=false", "trainer.strategy=ddp_find_unused_parameters_true"],
    ["experiment=charlm_attention"],
], ids=["gan", "charlm"])
def test_other_families_train_under_ddp_in_sync(tmp_path, family):
    run_dir = tmp_path / "run"
    command = [sys.executable, str(REPO / "scripts" / "train.py"), *QUIET, *TINY, "trainer=ddp", "trainer.devices=2",
               *family, f"hydra.run.dir={run_dir}"]
    result = subprocess.run(command, cwd=tmp_path, env=env(MASTER_PORT=str(free_port())), capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    params = [torch.load(run_dir / "ranks" / f"rank{r}.pt") for r in (0, 1)]
    assert same_params(*params) == 0.0
    steps = [json.loads((run_dir / "ranks" / f"rank{r}.json").read_text())["global_step"] for r in (0, 1)]
    assert steps[0] == steps[1] > 0


def test_hydra_multirun_with_local_ddp_is_refused_with_the_way_out(tmp_path):
    command = [sys.executable, str(REPO / "scripts" / "train.py"), "-m", "experiment=xor_mlp", "trainer=ddp",
               "trainer.devices=2", "logger=none", f"hydra.sweep.dir={tmp_path / 'multirun'}"]
    result = subprocess.run(command, cwd=tmp_path, env=env(), capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "error: Hydra multirun (-m) cannot start DDP processes" in result.stderr
    assert "scripts/sweep.py" in result.stderr and not list((tmp_path / "multirun").rglob("metrics.json"))
