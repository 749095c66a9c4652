"""W&B: offline by default with no API key; an offline run keeps its metrics in its run directory."""

import time

import pytest

from lab.run.wandb_mode import choose_wandb_mode


@pytest.fixture
def no_wandb_env(monkeypatch, tmp_path):
    for key in ("WANDB_MODE", "WANDB_API_KEY"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    # if anything tried to reach W&B it would go here, where nothing listens
    monkeypatch.setenv("WANDB_BASE_URL", "http://127.0.0.1:9")


def test_no_key_means_offline(no_wandb_env):
    import os
    assert choose_wandb_mode() == "offline" and os.environ["WANDB_MODE"] == "offline"


def test_api_key_or_netrc_means_online(no_wandb_env, monkeypatch, tmp_path):
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    assert choose_wandb_mode() == "online"
    monkeypatch.delenv("WANDB_API_KEY")
    netrc = tmp_path / "netrc"
    netrc.write_text("machine api.wandb.ai\n  login user\n  password " + "y" * 40 + "\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    assert choose_wandb_mode() == "online"


def test_explicit_mode_wins(no_wandb_env, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "disabled")
    assert choose_wandb_mode() == "disabled"


def test_offline_run_writes_its_run_directory_with_metrics(no_wandb_env, run_exp, tmp_path):
    metrics = run_exp(["experiment=xor_mlp", "logger=wandb", "trainer.max_epochs=2"], quiet=False)
    assert metrics["test/acc"] >= 0.5
    runs = list((tmp_path / "run" / "wandb").glob("offline-run-*"))
    assert len(runs) == 1
    history = list(runs[0].glob("run-*.wandb"))
    assert len(history) == 1, "the offline run has no .wandb history file"
    # wandb ships no reader for offline history; its records hold the metric names as plain bytes
    records = history[0].read_bytes()
    for _ in range(30):  # wandb's writer process may still be flushing after finish()
        if b"test/acc" in records:
            break
        time.sleep(0.5)
        records = history[0].read_bytes()
    for key in ("test/acc", "val/acc", "train/loss"):
        assert key.encode() in records
    logs = "".join(p.read_text(errors="replace") for p in runs[0].glob("logs/*.log"))
    assert "127.0.0.1:9" not in logs and "api.wandb.ai" not in logs
    assert (tmp_path / "run" / "images").is_dir()
