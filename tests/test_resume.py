"""A run killed mid-way resumes and ends exactly where an uninterrupted run ends: from last.ckpt after a crash,
from the checkpoint it saves itself on SIGTERM or Ctrl+C."""

import json
import os
import shlex
import signal
import subprocess
import time
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch

from lab.run.checkpoint import WANDB_ID_KEY, load_module
from lab.train import compose_config, run

from conftest import QUIET, REPO

BASE = QUIET + ["experiment=xor_mlp", "trainer.max_epochs=6", "callbacks.model_checkpoint.every_n_epochs=1"]


class Crash(pl.Callback):
    """Kills the run (an exception) at the start of epoch `epoch`, after epoch-end checkpoints were written."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        if trainer.current_epoch == self.epoch:
            raise RuntimeError("simulated crash")


def test_killed_run_resumes_from_last_checkpoint(tmp_path, monkeypatch):
    full = run(compose_config(BASE, tmp_path / "full"))

    import lab.train as train_module
    crash = Crash(epoch=3)
    original = train_module._instantiate_group
    monkeypatch.setattr(train_module, "_instantiate_group",
                        lambda group, **kw: original(group, **kw) + ([crash] if group is not None and "model_checkpoint" in group else []))
    with pytest.raises(RuntimeError, match="simulated crash"):
        run(compose_config(BASE, tmp_path / "killed"))
    monkeypatch.setattr(train_module, "_instantiate_group", original)

    last = tmp_path / "killed" / "checkpoints" / "last.ckpt"
    assert torch.load(last, weights_only=True)["global_step"] == 3 * 16
    resumed = run(compose_config(BASE + [f"ckpt_path={last}"], tmp_path / "resumed"))
    assert resumed["trainer/global_step"] == full["trainer/global_step"] == 6 * 16
    # the shuffle order after resuming differs (samplers keep no state), so the loss is close, not equal
    assert resumed["val/loss"] == pytest.approx(full["val/loss"], rel=0.05)


def test_checkpoint_rebuilds_module_alone(run_exp, tmp_path):
    run_exp(["experiment=xor_mlp", "trainer.max_epochs=3"])
    module, cfg = load_module(tmp_path / "run" / "checkpoints" / "last.ckpt")
    assert cfg["name"] == "xor_mlp"
    logits = module(torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]))
    assert logits.argmax(-1).tolist() == [0, 1, 1, 0]


class HoldAtStep(pl.Callback):
    """Used by the signal tests inside `lab-train`: once a fresh run reaches global step `step`, write `marker` and
    wait (at most 60 s) for a signal, so that the test kills the run at a known step."""

    def __init__(self, marker: str, step: int) -> None:
        self.marker, self.step = Path(marker), step

    def on_train_batch_end(self, trainer, *args) -> None:
        if trainer.ckpt_path is not None or trainer.global_step < self.step or self.marker.exists():
            return
        self.marker.write_text(str(trainer.global_step))
        deadline = time.monotonic() + 60
        while not trainer.received_sigterm and time.monotonic() < deadline:
            time.sleep(0.05)  # Ctrl+C raises KeyboardInterrupt out of this sleep


XOR_STEPS_PER_EPOCH = 16


def _lab_train(args, cwd, **kwargs):
    env = {**os.environ, "PYTHONPATH": str(REPO / "tests"), "WANDB_MODE": "offline", "COLUMNS": "120"}
    # a shell that started this test in the background may ignore SIGINT; the run must see Ctrl+C as a user's would
    return subprocess.Popen(args, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL), **kwargs)


def _kill_at(step, signum, args, tmp_path):
    """Start `lab-train args`, send `signum` once it holds at global step `step`; return (exit status, stdout,
    stderr)."""
    marker = tmp_path / "holding"
    hold = [f"+callbacks.hold._target_={__name__}.HoldAtStep", f"+callbacks.hold.marker={marker}",
            f"+callbacks.hold.step={step}"]
    process = _lab_train(["lab-train", *args, *hold], tmp_path)
    deadline = time.monotonic() + 120
    while not marker.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert marker.exists(), process.communicate()[1]
    process.send_signal(signum)
    out, err = process.communicate(timeout=60)
    return process.returncode, out, err


@pytest.mark.parametrize("signum, status, step, logger", [(signal.SIGTERM, 143, 5, "wandb"),
                                                          (signal.SIGINT, 130, 20, "none")])
def test_a_signal_saves_the_step_reached_and_its_command_resumes_to_the_planned_step(tmp_path, signum, status,
                                                                                      step, logger):
    """SIGTERM at step 5 (before the first epoch ends: no last.ckpt yet), Ctrl+C at step 20 (mid-epoch)."""
    args = ["experiment=xor_mlp", "trainer.max_epochs=3", "trainer.enable_progress_bar=false", f"logger={logger}"]
    code, out, err = _kill_at(step, signum, args, tmp_path)
    assert code == status, err
    lines = [line for line in (out + err).splitlines() if "interrupted.ckpt" in line]
    assert len(lines) == 1, out + err
    assert "Traceback" not in err and "Received SIGTERM" not in out + err and "KeyboardInterrupt" not in out + err
    name = signal.Signals(signum).name
    assert lines[0].startswith(f"{name}: stopped at global step {step}, saved "), lines[0]
    (run_dir,) = (tmp_path / "outputs" / "xor_mlp").iterdir()
    saved = run_dir / "checkpoints" / "interrupted.ckpt"
    command = lines[0].split("resume with: ", 1)[1]
    assert command == shlex.join(["lab-train", *args, *command.split()[len(args) + 1:-1], f"ckpt_path={saved}"])
    checkpoint = torch.load(saved, weights_only=True)
    assert checkpoint["global_step"] == step and step % XOR_STEPS_PER_EPOCH != 0

    resumed = _lab_train(shlex.split(command), tmp_path)
    out, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, err
    (said,) = [line for line in (out + err).splitlines() if line.startswith("resumed from")]
    assert f"at step {step} (epoch {step // XOR_STEPS_PER_EPOCH + 1}, mid-epoch: " in said, said
    assert "dataloader is not resumable" not in out + err
    assert list((tmp_path / "outputs" / "xor_mlp").iterdir()) == [run_dir], "resume started a new run directory"
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["trainer/global_step"] == 3 * XOR_STEPS_PER_EPOCH
    last = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    assert last["global_step"] == 3 * XOR_STEPS_PER_EPOCH
    assert last.get(WANDB_ID_KEY) == checkpoint.get(WANDB_ID_KEY) and (logger == "none") == (WANDB_ID_KEY not in last)
    assert not saved.exists(), "the finished run keeps a stale interrupted.ckpt"


def test_a_run_that_keeps_no_checkpoints_still_ends_with_the_signals_status(tmp_path):
    args = ["experiment=xor_mlp", "trainer.max_epochs=3", "logger=none", "callbacks.model_checkpoint=null"]
    code, out, err = _kill_at(5, signal.SIGTERM, args, tmp_path)
    assert code == 143
    assert err.strip().splitlines()[-1] == ("SIGTERM: stopped at global step 5; the run keeps no checkpoints "
                                            "(callbacks.model_checkpoint or trainer.enable_checkpointing is off)")
