"""`last.ckpt` holds the run's final step, whether or not the monitored value improved at the end."""

from __future__ import annotations

from lab.run.checkpoint import read_checkpoint


def _step(path) -> int:
    return read_checkpoint(path)["global_step"]


def test_last_is_the_final_step_when_the_best_stopped_improving(run_exp, tmp_path):
    # mode=max on a falling val/loss: the best checkpoint stays at epoch 1, last must still move on
    metrics = run_exp(["experiment=digits_mlp", "trainer.max_epochs=3", "callbacks.model_checkpoint.mode=max"])
    checkpoints = tmp_path / "run" / "checkpoints"
    best = [p for p in checkpoints.glob("best-*.ckpt")]
    assert [p.name.split("-step")[0] for p in best] == ["best-epoch001"]
    assert _step(checkpoints / "last.ckpt") == metrics["trainer/global_step"] > _step(best[0])


def test_last_is_the_final_step_between_two_periodic_checks(run_exp, tmp_path):
    metrics = run_exp(["experiment=digits_mlp", "trainer.max_epochs=3", "callbacks.model_checkpoint.every_n_epochs=2"])
    last = tmp_path / "run" / "checkpoints" / "last.ckpt"
    assert _step(last) == metrics["trainer/global_step"]
