"""The lab as a package: a wheel installed into a fresh virtualenv runs from a directory outside the repository."""

import json
import shutil
import site
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from lab.commands import bench, evaluate, generate, sample, sweep

from conftest import REPO

COMMANDS = ["lab-train", "lab-evaluate", "lab-sample", "lab-generate", "lab-translate", "lab-sweep", "lab-bench"]
NOT_SOURCE = shutil.ignore_patterns(".git", "outputs", "multirun", "wandb", "build", "dist", "*.egg-info",
                                    "__pycache__", ".pytest_cache", "lightning_logs")


@pytest.mark.parametrize("command, key", [(evaluate, "episodes"), (sample, "nrow"), (generate, "temperature"),
                                          (sweep, "count")])
def test_every_key_value_command_answers_help_with_its_keys_and_an_example(command, key, capsys):
    command.main(["--help"])
    out = capsys.readouterr().out
    assert out.startswith("lab-") and "keys (key=value):" in out and key in out
    assert "ckpt=" in out or "sweep=" in out  # an example command line


def test_bench_answers_help_with_its_sections(capsys):
    with pytest.raises(SystemExit) as exit_:
        bench.main(["--help"])
    assert exit_.value.code == 0 and "gpu" in capsys.readouterr().out


def test_build_output_is_ignored_by_git():
    if not (REPO / ".git").exists():
        pytest.fail("run the tests from a git checkout (CI clones the repository)")
    for path in ("build/lib/lab/train.py", "dist/lab-0.1.0-py3-none-any.whl"):
        assert subprocess.run(["git", "check-ignore", "-q", path], cwd=REPO).returncode == 0, path


def venv_seeing_this_environment(venv: Path) -> Path:
    """A fresh venv whose path ends with the site-packages of the interpreter running the tests (a .pth file), so
    the wheel's dependencies resolve to what is installed here, offline, whether that is a venv, conda or the
    system Python (`--system-site-packages` would see the base interpreter's instead). The venv has no pip or
    setuptools of its own; pip comes from here and still checks that every declared requirement is met.
    Returns the venv's python."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    own = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                         capture_output=True, text=True, check=True).stdout.strip()
    paths = sysconfig.get_paths()
    here = site.getsitepackages() + [paths["purelib"], paths["platlib"]]
    if site.ENABLE_USER_SITE:
        here.append(site.getusersitepackages())
    # Plain directory lines: the .pth files inside them (this checkout's editable install) are not run.
    lines = [path for path in dict.fromkeys(here) if Path(path).is_dir() and path != own]
    (Path(own) / "tests_environment.pth").write_text("\n".join(lines) + "\n")
    return python


@pytest.mark.slow
def test_wheel_installs_and_runs_from_outside_the_repository(tmp_path):
    source = tmp_path / "source"
    shutil.copytree(REPO, source, symlinks=True, ignore=NOT_SOURCE)
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                            "-w", str(tmp_path / "dist"), str(source)], capture_output=True, text=True)
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp_path / "dist").glob("lab-*.whl")

    venv = tmp_path / "venv"
    python, bin_dir = venv_seeing_this_environment(venv), venv / "bin"
    installed = subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-index", str(wheel)],
                               capture_output=True, text=True)
    assert installed.returncode == 0, installed.stderr

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for command in COMMANDS:
        shown = subprocess.run([str(bin_dir / command), "--help"], cwd=elsewhere, capture_output=True, text=True)
        assert shown.returncode == 0 and "lab-" in shown.stdout + shown.stderr, (command, shown.stderr)

    trained = subprocess.run([str(bin_dir / "lab-train"), "experiment=xor_mlp", "logger=none",
                              "trainer.enable_progress_bar=false", "hydra.run.dir=cli_run"],
                             cwd=elsewhere, capture_output=True, text=True)
    assert trained.returncode == 0, trained.stderr
    assert json.loads((elsewhere / "cli_run" / "metrics.json").read_text())["test/acc"] == 1.0

    api = ("import json, lab; from lab.train import run_experiment; "
           "m = run_experiment(['experiment=xor_mlp', 'logger=none', 'trainer.enable_progress_bar=false'], 'api_run'); "
           "print(json.dumps({'file': lab.__file__, 'acc': m['test/acc']}))")
    result = subprocess.run([str(python), "-c", api], cwd=elsewhere, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert Path(report["file"]).is_relative_to(venv), "the API ran the checkout, not the installed wheel"
    assert report["acc"] == 1.0
    assert not (source / "build").exists() or "build/" in (REPO / ".gitignore").read_text()
