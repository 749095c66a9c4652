"""lab.run.fast_lightning changes Lightning's speed, not its results: one seeded run with the patches and one
without give the same metrics and the same checkpoint."""

import pytest
import torch

TIMING = ("time/", "perf/", "per_sec", "seconds")


def _untimed(metrics: dict) -> dict:
    return {key: value for key, value in metrics.items()
            if key != "run_dir" and not any(part in key for part in TIMING)}


def _checkpoint(run_dir):
    return torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)


def _same_tensors(a, b) -> bool:
    """Nested dicts/lists of tensors and plain values: equal structure, bit-identical tensors."""
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same_tensors(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(_same_tensors(x, y) for x, y in zip(a, b))
    return a == b


@pytest.fixture
def same_threads():
    """Both runs on one torch thread: an RL module sets one in its setup, and work before that would otherwise run
    on as many threads as the previous test left (sums over two threads round differently)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("experiment", [
    ["experiment=digits_mlp", "trainer.max_epochs=3"],
    ["experiment=ppo_chain", "model.total_timesteps=2048", "model.num_envs=8", "model.num_steps=32"],
], ids=["digits_mlp", "ppo_chain"])
def test_patched_and_unpatched_runs_give_identical_metrics_and_checkpoints(run_exp, tmp_path, experiment,
                                                                           same_threads):
    runs = {patches: run_exp([*experiment, "seed=3", f"trainer_patches={patches}"], subdir=f"patches_{patches}")
            for patches in ("true", "false")}
    patched, unpatched = (_untimed(runs[p]) for p in ("true", "false"))
    assert len(patched) > 3 and patched == unpatched

    saved, shipped = (_checkpoint(tmp_path / f"patches_{p}") for p in ("true", "false"))
    assert saved["global_step"] == shipped["global_step"] > 0
    assert _same_tensors(saved["state_dict"], shipped["state_dict"])
    assert _same_tensors(saved["optimizer_states"], shipped["optimizer_states"])
