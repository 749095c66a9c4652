"""The installed console commands as a shell meets them: exit 0 with the result printed once on success, exit 2
with one `error: ...` line on bad input."""

from __future__ import annotations

import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest
import yaml

from lab.train import run_experiment

from conftest import QUIET

pytestmark = pytest.mark.slow  # a dozen processes that each import torch: ~30 s on 2 free cores

FAST_RL = ["model.num_envs=4", "model.num_steps=32", "callbacks.model_checkpoint.every_n_epochs=1", "test=false",
           "model.eval_every=0"]


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """Train one tiny checkpoint per kind, then run every command at once: {name: CompletedProcess}."""
    root = tmp_path_factory.mktemp("commands")
    corpus = root / "tiny.txt"
    corpus.write_text("the cat sat on the mat. " * 60)
    trained = {
        "rl": ["experiment=ppo_chain", *FAST_RL, "model.total_timesteps=128"],
        "vae": ["experiment=vae_mnist5k", "trainer.max_epochs=1", "+trainer.limit_train_batches=2",
                "+trainer.limit_val_batches=1", "test=false", "model.sample_metrics=false"],
        "lm": ["experiment=charlm_gru", f"data.path={corpus}", "data.seq_len=32", "data.batch_size=16",
               "model.net.hidden_size=32", "model.sample_length=10", "model.sample_prompt='the '",
               "trainer.max_epochs=1", "test=false"],
    }
    ckpt = {}
    for name, overrides in trained.items():
        run_experiment(QUIET + overrides, root / name)
        ckpt[name] = root / name / "checkpoints" / "last.ckpt"
    sweep = root / "tiny_sweep.yaml"
    sweep.write_text(yaml.safe_dump({
        "program": "scripts/train.py", "method": "grid", "metric": {"name": "val/loss", "goal": "minimize"},
        "parameters": {"model.net.activation_name": {"values": ["relu"]}},
        "command": ["${env}", "${interpreter}", "${program}", "experiment=xor_mlp", "trainer.max_epochs=1",
                    *QUIET, "${args_no_hyphens}"]}))
    commands = {
        "train": ["lab-train", "experiment=xor_mlp", "trainer.max_epochs=1", "logger=none",
                  "trainer.enable_progress_bar=false", f"hydra.run.dir={root / 'cli_run'}"],
        "evaluate": ["lab-evaluate", f"ckpt={ckpt['rl']}", "episodes=2", "wandb=false"],
        "sample": ["lab-sample", f"ckpt={ckpt['vae']}", "n=4", f"out={root / 'samples.png'}"],
        "generate": ["lab-generate", f"ckpt={ckpt['lm']}", "prompt=the ", "length=30", "seed=1"],
        "sweep": ["lab-sweep", f"sweep={sweep}", f"out={root / 'sweep'}", "check_metric=false"],
        "bench": ["lab-bench", "--help"],
        "bad_train": ["lab-train", "model.optimizer.lr=-1", f"hydra.run.dir={root / 'refused'}"],
        "bad_evaluate": ["lab-evaluate", f"ckpt={ckpt['vae']}"],
        "bad_sample": ["lab-sample", f"ckpt={root / 'missing.ckpt'}"],
        "bad_generate": ["lab-generate", f"ckpt={ckpt['lm']}", "lenght=30"],
        "bad_sweep": ["lab-sweep", "sweep=no_such_sweep"],
        "bad_bench": ["lab-bench", "no_such_section"],
    }

    def call(command):
        return subprocess.run(command, cwd=root, capture_output=True, text=True, timeout=300)

    with ThreadPoolExecutor(max_workers=4) as pool:
        done = dict(zip(commands, pool.map(call, commands.values())))
    done["root"] = root
    return done


@pytest.mark.parametrize("name, result", [
    ("train", "metrics written to "),
    ("evaluate", "lab/Chain-v0: 2 episodes, return mean "),
    ("sample", "wrote 4 samples of vae_mnist5k to "),
    ("generate", "the "),
    ("sweep", "best: trial 0 val/loss="),
    ("bench", "usage: lab-bench"),
])
def test_a_command_that_worked_exits_0_and_prints_its_result_once(results, name, result):
    done = results[name]
    assert done.returncode == 0, done.stderr
    out = done.stdout.rstrip("\n")
    assert out.count(result) >= 1 and "Traceback" not in done.stderr
    last = out.splitlines()[-1]
    assert (done.stdout + done.stderr).count(last) == 1, f"{last!r} printed twice:\n{done.stdout}\n{done.stderr}"
    for line in done.stderr.splitlines():  # the result is not repeated on stderr (a dict, a path, the text)
        assert line.strip() not in ("None", "0") and not line.startswith(("{", "PosixPath(")), done.stderr


def test_generate_prints_the_text_once(results):
    done = results["generate"]
    text = done.stdout.rstrip("\n")
    assert text.startswith("the ") and len(text) == 34 and done.stderr.count(text) == 0


def test_sample_writes_the_file_it_names(results):
    assert (results["root"] / "samples.png").stat().st_size > 0
    assert results["sample"].stdout.count(str(results["root"] / "samples.png")) == 1


@pytest.mark.parametrize("name, error", [
    ("bad_train", "error: model.optimizer.lr must be > 0, got -1"),
    ("bad_evaluate", "error: checkpoint "),
    ("bad_sample", "error: checkpoint "),
    ("bad_generate", "error: unknown argument 'lenght'"),
    ("bad_sweep", "error: "),
    ("bad_bench", "error: unknown section(s) no_such_section"),
])
def test_bad_input_is_one_error_line_and_exit_2(results, name, error):
    done = results[name]
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.startswith(error) and done.stderr.count("\n") == 1, done.stderr
    assert done.stdout == ""
