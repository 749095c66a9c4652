"""A run killed mid-way resumes from last.ckpt and ends exactly where an uninterrupted run ends."""

import pytest
import pytorch_lightning as pl
import torch

from lab.run.checkpoint import load_module
from lab.train import compose_config, run

from conftest import QUIET

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
