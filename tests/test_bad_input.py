"""Each bad input gets one clear error naming the problem and the fix."""

import subprocess
import sys

import pytest

from lab.errors import LabError
from lab.train import compose_config

from conftest import REPO


def test_unknown_experiment_names_the_closest_ones():
    with pytest.raises(LabError, match=r"^unknown experiment 'xor_mpl' \(no conf/experiment/xor_mpl.yaml\); "
                                       r"did you mean xor_mlp\?$"):
        compose_config(["experiment=xor_mpl"])
    with pytest.raises(LabError, match=r"unknown experiment 'ppo'.*did you mean ppo_acrobot or ppo_breakout or "):
        compose_config(["experiment=ppo"])


@pytest.mark.parametrize("override, message", [
    ("model=lenett", r"unknown model 'lenett' \(no conf/model/lenett.yaml\); did you mean lenet or"),
    ("data=mnist5", r"unknown data 'mnist5' .*; did you mean mnist5k or mnist\?"),
    ("optimizer@model.optimizer=sgdd", r"unknown optimizer 'sgdd' .*; did you mean sgd\?"),
    ("logger=tensorboard", r"unknown logger 'tensorboard' .*; choose from csv, none, wandb$"),
])
def test_unknown_group_option_names_the_closest_ones(override, message):
    with pytest.raises(LabError, match=message):
        compose_config(["experiment=xor_mlp", override])


def test_wrong_key_is_refused_with_the_closest_key():
    with pytest.raises(LabError, match=r"unknown config key 'model\.optimizer\.lrr'; did you mean model\.optimizer\.lr\?"):
        compose_config(["model.optimizer.lrr=0.1"])


def test_a_key_whose_default_interpolates_hydra_runtime_is_a_known_key(tmp_path):
    cfg = compose_config(["experiment=xor_mlp", f"paths.output_dir={tmp_path}"])
    assert cfg.paths.output_dir == str(tmp_path)


@pytest.mark.parametrize("override, key", [("model.optimizer.lr=-0.1", "model.optimizer.lr"),
                                           ("data.batch_size=0", "data.batch_size")])
def test_non_positive_values_are_refused(run_exp, override, key):
    with pytest.raises(LabError, match=rf"{key} must be > 0, got -?0"):
        run_exp(["experiment=xor_mlp", override])


def test_cli_prints_one_line_error_and_exits_2(tmp_path):
    result = subprocess.run([sys.executable, "scripts/train.py", "experiment=xor_mlp", "model.optimizer.lr=-1",
                             "logger=none", f"hydra.run.dir={tmp_path}"], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 2
    assert "error: model.optimizer.lr must be > 0, got -1" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("override, line", [
    ("experiment=xor_mpl", "error: unknown experiment 'xor_mpl' (no conf/experiment/xor_mpl.yaml); did you mean xor_mlp?"),
    ("experiment=nope", "error: unknown experiment 'nope' (no conf/experiment/nope.yaml); none is close; "
                        "`lab-train --help` lists all"),
    ("model=nope", "error: unknown model 'nope' (no conf/model/nope.yaml); none is close; `lab-train --help` lists all"),
])
def test_cli_unknown_experiment_or_option_is_one_line_and_exit_2(tmp_path, override, line):
    result = subprocess.run(["lab-train", override], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stdout == "" and result.stderr.count("\n") == 1 and result.stderr.startswith(line)
    assert not (tmp_path / "outputs").exists()


def test_non_finite_loss_stops_with_step_and_keeps_last_good_checkpoint(run_exp, tmp_path):
    overrides = ["experiment=digits_mlp", "optimizer@model.optimizer=sgd", "model.optimizer.lr=1e12",
                 "model.optimizer.nesterov=false", "model.optimizer.momentum=0", "trainer.max_epochs=3"]
    with pytest.raises(LabError, match=r"training loss became (nan|inf) at global step \d+ .*Lower the learning rate"):
        run_exp(overrides)


def test_checkpoint_from_another_model_is_refused(run_exp, tmp_path):
    run_exp(["experiment=xor_mlp", "trainer.max_epochs=1"], subdir="small")
    last = tmp_path / "small" / "checkpoints" / "last.ckpt"
    with pytest.raises(LabError, match=r"does not match the model .*shape mismatch.*resume with the experiment"):
        run_exp(["experiment=xor_mlp", "model.net.hidden=[16]", f"ckpt_path={last}"], subdir="big")


def test_missing_checkpoint_is_named(run_exp, tmp_path):
    with pytest.raises(LabError, match=r"checkpoint .*nothing.ckpt does not exist"):
        run_exp(["experiment=xor_mlp", f"ckpt_path={tmp_path / 'nothing.ckpt'}"])


def test_corrupt_checkpoint_is_named(run_exp, tmp_path):
    bad = tmp_path / "bad.ckpt"
    bad.write_bytes(b"not a checkpoint at all")
    with pytest.raises(LabError, match=r"bad.ckpt cannot be read: the file is truncated or is not a lab checkpoint") as error:
        run_exp(["experiment=xor_mlp", f"ckpt_path={bad}"])
    assert "weights_only" not in str(error.value)  # never advice to turn the safe load off


def test_data_shape_that_does_not_match_the_config(run_exp):
    with pytest.raises(LabError, match=r"shape \(1, 28, 28\) but the config says data.input_shape=\[3, 32, 32\]"):
        run_exp(["data.input_shape=[3,32,32]", "trainer.max_epochs=1"])
