"""Sequence training mechanics: gradient clipping by norm; a language model generates from its checkpoint alone."""

from __future__ import annotations

import functools

import pytest
import pytorch_lightning as pl
import torch

from lab.callbacks.grad_norm import GradNorm
from lab.run.checkpoint import load_module
from lab.data.series import SeriesDataModule
from lab.errors import LabError
from lab.models.forecaster import Forecaster
from lab.nets.rnn import SequenceEncoder


class HugeLoss(Forecaster):
    def training_step(self, batch, batch_idx):
        return super().training_step(batch, batch_idx) * 1e6


def _applied_update(clip):
    """One SGD step (lr 1) on a huge loss: returns (logged pre-clip gradient norm, norm of the parameter change)."""
    pl.seed_everything(0, verbose=False)
    model = HugeLoss(SequenceEncoder(1, 1, hidden_size=16), optimizer=functools.partial(torch.optim.SGD, lr=1.0))
    before = torch.cat([p.detach().flatten().clone() for p in model.parameters()])
    trainer = pl.Trainer(max_steps=1, gradient_clip_val=clip, gradient_clip_algorithm="norm", callbacks=[GradNorm()],
                         logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, limit_val_batches=0, accelerator="cpu")
    trainer.fit(model, datamodule=SeriesDataModule(length=300, window=16))
    after = torch.cat([p.detach().flatten() for p in model.parameters()])
    return float(trainer.callback_metrics["train/grad_norm"]), float((after - before).norm())


def test_gradient_clipping_bounds_the_applied_norm():
    grad_norm, applied = _applied_update(clip=0.5)
    assert grad_norm > 1e3  # the loss really was huge, and the norm is logged before clipping
    assert applied <= 0.5 + 1e-4
    unclipped_norm, unclipped = _applied_update(clip=None)
    assert unclipped == pytest.approx(unclipped_norm, rel=1e-3)  # without clipping the full gradient is applied


def test_language_model_generates_from_its_checkpoint_alone(run_exp, tmp_path, capsys):
    corpus = tmp_path / "tiny.txt"
    corpus.write_text("the cat sat on the mat. " * 60)
    common = ["experiment=charlm_gru", f"data.path={corpus}", "data.seq_len=32", "data.batch_size=16",
              "model.net.hidden_size=32", "model.sample_length=40", "trainer.max_epochs=1"]
    with pytest.raises(LabError, match="model.sample_prompt='And ' has characters the corpus lacks: 'Ad'"):
        run_exp(common, subdir="bad_prompt")
    metrics = run_exp(common + ["model.sample_prompt='the '"])
    assert metrics["val/bpc"] == pytest.approx(float(torch.log2(torch.tensor(metrics["val/ppl"]))), rel=1e-4)
    assert metrics["train/grad_norm"] > 0
    assert "--- sample, epoch 1, temperature 0.8 ---\nthe " in capsys.readouterr().out
    corpus.unlink()  # the vocabulary must come from the checkpoint
    module, _ = load_module(tmp_path / "run" / "checkpoints" / "last.ckpt")
    assert module.vocab == " .acehmnost"
    text = module.generate("the ", 50, temperature=0.5, generator=torch.Generator().manual_seed(0))
    assert len(text) == 54 and set(text) <= set(module.vocab)
    with pytest.raises(LabError, match="not in the model's vocabulary: 'z'"):
        module.generate("zoo", 5)
