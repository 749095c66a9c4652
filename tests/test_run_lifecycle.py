"""A run as a user meets it: resume continues the same run, refused runs leave nothing, errors name the fix."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from lab.run.checkpoint import WANDB_ID_KEY
from lab.run.config_checks import closest_keys
from lab.run.run_dir import new_run_dir
from lab.errors import LabError
from lab.train import compose_config, run_experiment

from conftest import QUIET, REPO

XOR = QUIET + ["experiment=xor_mlp"]


def _lab_train(args, cwd):
    return subprocess.run([sys.executable, str(REPO / "scripts" / "train.py"), *args], cwd=cwd,
                          capture_output=True, text=True)


def test_resume_continues_in_the_checkpoint_run_dir_and_the_same_wandb_run(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    args = ["experiment=xor_mlp", "logger=wandb", "trainer.enable_progress_bar=false"]
    first = _lab_train(args + ["trainer.max_epochs=2"], tmp_path)
    assert first.returncode == 0, first.stderr
    (run_dir,) = (tmp_path / "outputs" / "xor_mlp").iterdir()
    last = run_dir / "checkpoints" / "last.ckpt"
    run_id = torch.load(last, weights_only=True)[WANDB_ID_KEY]
    best_before = sorted(p.name for p in (run_dir / "checkpoints").glob("best-*.ckpt"))

    resumed = _lab_train(args + ["trainer.max_epochs=4", f"ckpt_path={last}"], tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert list((tmp_path / "outputs" / "xor_mlp").iterdir()) == [run_dir], "resume started a new run directory"
    assert "dirpath" not in resumed.stderr  # Lightning warns when the checkpoint folder changed
    checkpoint = torch.load(last, weights_only=True)
    assert checkpoint["global_step"] == 4 * 16 and checkpoint[WANDB_ID_KEY] == run_id
    runs = sorted((run_dir / "wandb").glob("offline-run-*"))
    assert len(runs) == 2 and all(r.name.endswith(f"-{run_id}") for r in runs)
    best_after = sorted(p.name for p in (run_dir / "checkpoints").glob("best-*.ckpt"))
    assert len(best_after) == 1 and best_after != best_before  # tracking went on: the old best was replaced


def test_resume_that_has_nothing_left_to_train_says_so(run_exp, tmp_path):
    run_exp(["experiment=xor_mlp", "trainer.max_epochs=2"])
    last = tmp_path / "run" / "checkpoints" / "last.ckpt"
    with pytest.raises(LabError, match=r"already reached trainer.max_epochs=2 \(2 epochs done\).*trainer.max_epochs=4"):
        run_experiment(XOR + ["trainer.max_epochs=2", f"ckpt_path={last}"])


def test_a_corrupt_checkpoint_gets_the_labs_message_and_leaves_no_run_dir(tmp_path):
    bad = tmp_path / "truncated.ckpt"
    bad.write_bytes(b"PK\x03\x04 not a whole file")
    result = _lab_train(["experiment=xor_mlp", f"ckpt_path={bad}", "logger=wandb"], tmp_path)
    assert result.returncode == 2
    assert f"checkpoint {bad} cannot be read: the file is truncated or is not a lab checkpoint" in result.stderr
    assert "weights_only" not in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "outputs").exists()


def test_a_mismatched_checkpoint_leaves_no_run_dir(run_exp, tmp_path):
    run_exp(["experiment=xor_mlp", "trainer.max_epochs=1"], subdir="small")
    other = tmp_path / "elsewhere"
    other.mkdir()
    result = _lab_train(["experiment=digits_mlp", "logger=wandb",
                         f"ckpt_path={tmp_path / 'small' / 'checkpoints' / 'last.ckpt'}", "hydra.run.dir=refused"], other)
    assert result.returncode == 2 and "does not match the model" in result.stderr
    assert list(other.iterdir()) == []


def test_a_bad_data_file_leaves_no_run_dir(tmp_path):
    root = tmp_path / "mnist"
    root.mkdir()
    (root / "train-images-idx3-ubyte").write_bytes(b"\x00\x00\x08\x03 truncated")
    result = _lab_train(["experiment=lenet_mnist", f"data.root={root}", "logger=wandb"], tmp_path)
    assert result.returncode == 2 and "mnist files missing" in result.stderr
    assert not (tmp_path / "outputs").exists()


def test_a_misspelt_key_suggests_the_closest_existing_keys(tmp_path):
    result = _lab_train(["model.lrr=0.1"], tmp_path)
    assert result.returncode == 2
    assert "unknown config key 'model.lrr'; did you mean model.optimizer.lr?" in result.stderr
    assert "+model.lrr" not in result.stderr and not (tmp_path / "outputs").exists()
    with pytest.raises(LabError, match=r"unknown config key 'model.num_env'; did you mean model.num_envs"):
        compose_config(["experiment=ppo_cartpole", "model.num_env=4"])


def test_closest_keys_prefer_the_same_name_and_skip_parents():
    known = ["model", "model.optimizer", "model.optimizer.lr", "model.num_envs", "trainer.max_epochs", "seed"]
    assert closest_keys("model.lrr", known)[0] == "model.optimizer.lr"
    assert "model" not in closest_keys("model.lr", known)
    assert closest_keys("trainer.max_epoch", known) == ["trainer.max_epochs"]


def test_the_console_shows_one_bar_and_one_metrics_table(tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "120")
    result = _lab_train(["experiment=xor_mlp", "logger=wandb", "trainer.max_epochs=2"], tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout + result.stderr
    for noise in ("GPU available", "TPU available", "anonymous setting", "v_num", "Test metric"):
        assert noise not in out
    import json

    from lab.run.summary import distinct
    (run_dir,) = (tmp_path / "outputs" / "xor_mlp").iterdir()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    table = [line for line in out.splitlines() if "│" in line]
    assert sorted(line.split("│")[0].strip() for line in table) == sorted(distinct(metrics))  # each metric once
    assert out.count("test/acc") == 1


def test_pictures_keep_the_latest_epoch_and_the_final_ones(run_exp, tmp_path):
    run_exp(["experiment=vae_mnist5k", "trainer.max_epochs=3", "trainer.limit_train_batches=2",
             "trainer.limit_val_batches=1", "trainer.limit_test_batches=1"])
    names = sorted(p.name for p in (tmp_path / "run" / "images").iterdir())
    per_epoch = [n for n in names if "_epoch" in n]
    assert per_epoch and all(n.endswith("_epoch003.png") for n in per_epoch), names  # epochs 1, 2, 3: only the last
    assert any(n.startswith("test_") and "_epoch" not in n for n in names), names


def test_api_runs_each_get_their_own_run_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    first = run_experiment(XOR + ["trainer.max_epochs=1", "seed=1"])
    second = run_experiment(XOR + ["trainer.max_epochs=2", "seed=2"])
    runs = sorted((tmp_path / "outputs" / "xor_mlp").iterdir())
    assert len(runs) == 2 and sorted([first["run_dir"], second["run_dir"]]) == [str(r) for r in runs]
    for metrics, epochs in ((first, 1), (second, 2)):
        run_dir = Path(metrics["run_dir"])
        assert json.loads((run_dir / "metrics.json").read_text())["trainer/global_step"] == epochs * 16
        assert torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == epochs * 16
        assert [p.name for p in (run_dir / "checkpoints").glob("*-v1.ckpt")] == []
    with pytest.raises(LabError, match="model.optimizer.lr must be > 0"):
        run_experiment(XOR + ["model.optimizer.lr=-1"])
    assert sorted((tmp_path / "outputs" / "xor_mlp").iterdir()) == runs  # a refused run leaves no folder


def test_run_directories_started_in_the_same_second_do_not_collide(tmp_path):
    dirs = [new_run_dir("x", tmp_path) for _ in range(3)]
    assert len(set(dirs)) == 3 and all(d.is_dir() and d.parent == tmp_path / "x" for d in dirs)
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d(-\d+)?", d.name) for d in dirs)
