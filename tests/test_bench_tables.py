"""lab-bench's tables: the sections assemble them from the runs they made (runs replaced by fixed outcomes here),
`--write` puts each into its own block of a docs page, and the pages' links resolve."""

import re
from pathlib import Path

import pytest

from lab.bench import _docs, rl, rl_results, sections
from lab.commands import bench
from lab.errors import LabError

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"


def test_rl_results_tables_put_sb3_beside_the_lab(monkeypatch, tmp_path):
    def train(experiment, seed, steps, out):
        return {"return": 100.0 + seed, "seconds": 10.0, "curve": [(0.0, 0.0), (float(steps), 1.0)]}

    def sb3(algorithm, env_id, seed, steps, hyperparameters):
        return {"return": 50.0 + seed, "seconds": 20.0}

    monkeypatch.setattr(rl_results, "_train", train)
    monkeypatch.setattr(rl_results, "_sb3", sb3)
    monkeypatch.setattr(rl_results, "CURVES_DIR", tmp_path)
    report = "\n".join(rl_results.run().values()).splitlines()
    row = {line.split(" | ")[0].strip("| "): line for line in report if line.startswith("| ")}
    assert row["dqn_cartpole"] == ("| dqn_cartpole | 50,000 | 101.0 +- 0.8 (100, 101, 102) | 500.0 +- 0.0 | "
                                   "51.0 +- 0.8 (50, 51, 52) | 10 |")
    assert row["ppo_acrobot"].endswith("| -73.5 +- 18.2 | - | 10 |")  # no SB3 run of its own: a dash
    assert row["sac_lunarlander_continuous"] == "| sac_lunarlander_continuous | 100 | 10 | 50 | 20 |"
    assert (tmp_path / "ppo_halfcheetah.png").exists() and (tmp_path / "reinforce_cartpole.png").exists()


def test_rl_results_takes_a_seed_count(monkeypatch, tmp_path):
    monkeypatch.setattr(rl_results, "_train", lambda e, seed, steps, out: {"return": float(seed), "seconds": 1.0})
    monkeypatch.setattr(rl_results, "_sb3", lambda *args: {"return": 0.0, "seconds": 1.0})
    monkeypatch.setattr(rl_results, "CURVES_DIR", tmp_path)
    blocks = rl_results.run(quick=True, seeds=5)
    assert set(blocks) == {"rl_results"}
    assert "| ppo_cartpole | 2,000 | 2.0 +- 1.4 (0, 1, 2, 3, 4) |" in blocks["rl_results"]


def test_rl_time_to_solve_runs_the_seeds_asked_for(monkeypatch, tmp_path):
    solved = {"solved": True, "seconds": 2.0, "steps": 4096.0, "rate": 10_000.0}
    monkeypatch.setattr(rl, "lab_solve", lambda name, seed, out, experiment=None, extra=(): dict(solved))
    monkeypatch.setattr(rl, "sb3_run", lambda name, seed: dict(solved, seconds=3.0 + seed))
    monkeypatch.setattr(rl, "raw_env_rate", lambda env_id="CartPole-v1", num_envs=8: 100_000.0)
    monkeypatch.setattr(rl.torch, "set_num_threads", lambda n: None)  # the section pins 1 thread for its timings
    blocks = rl.run(seeds=5, only=["ppo_cartpole"])
    assert list(blocks) == ["rl/ppo_cartpole", "rl/ceiling"]
    rows = [line for line in blocks["rl/ppo_cartpole"].splitlines() if line[:4] in {f"| {s} " for s in range(9)}]
    assert [row.split(" | ")[0] for row in rows] == ["| 0", "| 1", "| 2", "| 3", "| 4"]
    assert "Median wall time to solve: lab 2.0 s, SB3 5.0 s (lab 2.50x faster)" in blocks["rl/ppo_cartpole"]
    assert "| CartPole-v1 (gymnasium native vector env) | 100,000 | 10,000 | 10.0% |" in blocks["rl/ceiling"]


PAGE = "# Page\n\nIntro, kept.\n\n<!-- bench:demo -->\nold table\n<!-- /bench:demo -->\n\nMiddle.\n\n" \
       "<!-- bench:other -->\nanother\n<!-- /bench:other -->\nTail without newline"


def test_replace_block_changes_its_block_and_nothing_else():
    text = _docs.replace_block(PAGE, "demo", "| a |\n|---|\n| 1 |\n")
    before, after = PAGE.split("<!-- bench:demo -->")[0], PAGE.split("<!-- /bench:demo -->")[1]
    assert text == before + "<!-- bench:demo -->\n| a |\n|---|\n| 1 |\n<!-- /bench:demo -->" + after
    assert _docs.replace_block(text, "demo", "old table") == PAGE  # and back, byte for byte
    added = _docs.replace_block(PAGE, "new", "x")
    assert added == PAGE + "\n\n<!-- bench:new -->\nx\n<!-- /bench:new -->\n"
    with pytest.raises(ValueError, match="no closing"):
        _docs.replace_block("<!-- bench:demo -->\nopen", "demo", "x")


class FakeSection:
    """A section that measures nothing: a body per block, and the seeds it was given."""

    TITLE, DOC = "Fake", "benchmarks.md"

    @staticmethod
    def run(quick=False, seeds=None):
        return {"fake/a": f"| seeds |\n|---|\n| {seeds} |", "fake/b": "| b |\n|---|\n| 2 |"}


def test_lab_bench_write_replaces_the_sections_blocks_in_the_docs_page(monkeypatch, tmp_path, capsys):
    page = tmp_path / "benchmarks.md"
    original = PAGE.replace("demo", "fake/a") + "\n<!-- bench:fake/b -->\n<!-- /bench:fake/b -->\n"
    page.write_text(original)
    monkeypatch.setattr(bench, "sections", lambda: {"fake": FakeSection})
    assert bench.main(["fake", "--seeds", "5", "--write", "--docs", str(tmp_path)]) == 0
    text = page.read_text()
    block = re.search(r"<!-- bench:fake/a -->\n(.*)\n<!-- /bench:fake/a -->", text, re.S).group(1)
    assert re.fullmatch(r"Measured \d{4}-\d{2}-\d{2} on .+, \d+ cores, .+: `lab-bench fake --seeds 5 --write` \(0 s\)\.",
                        block.splitlines()[0])
    assert block.endswith("\n\n| seeds |\n|---|\n| 5 |")
    assert text.split("<!-- bench:fake/a -->")[0] == original.split("<!-- bench:fake/a -->")[0]
    middle = original.split("<!-- /bench:fake/a -->")[1].split("<!-- bench:fake/b -->")[0]
    assert text.split("<!-- /bench:fake/a -->")[1].split("<!-- bench:fake/b -->")[0] == middle
    assert text.endswith("| b |\n|---|\n| 2 |\n<!-- /bench:fake/b -->\n")
    assert "| 5 |" in capsys.readouterr().out


def test_lab_bench_refuses_to_write_a_quick_run(monkeypatch, capsys):
    monkeypatch.setattr(bench, "sections", lambda: {"fake": FakeSection})
    with pytest.raises(SystemExit) as exit_:
        bench.main(["fake", "--quick", "--write"])
    assert exit_.value.code == 2 and "not written" in capsys.readouterr().err


def test_every_block_in_the_docs_belongs_to_a_section_that_writes_that_page():
    available = sections()
    found = {}
    for page in sorted(DOCS.glob("*.md")):
        for name in re.findall(r"^<!-- bench:(\S+) -->$", page.read_text(), re.M):
            found[name] = page.name
    assert {"overhead", "rl/ppo_cartpole", "rl_results", "atari", "scaling", "sequence", "generative"} <= set(found)
    for name, page in found.items():
        section = name.split("/")[0]
        assert section in available, name
        assert available[section].DOC == page, (name, page)
    for page in DOCS.glob("*.md"):  # every block opens with the line the writer stamps
        for first in re.findall(r"^<!-- bench:\S+ -->\n(.*)\n", page.read_text(), re.M):
            assert re.fullmatch(r"Measured \d{4}-\d{2}-\d{2} on .+, \d+ cores, .+: `.+`( \(\d+ s\))?\.", first), first
    readme = (REPO / "README.md").read_text()
    assert "(docs/benchmarks.md" in readme and "(docs/results.md" in readme


def _anchors(page: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation but hyphens dropped, spaces to hyphens."""
    headings = re.findall(r"^#+ (.+)$", page.read_text(), re.M)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


def test_every_relative_link_in_readme_and_docs_points_to_a_file():
    pages = [REPO / "README.md", *sorted(DOCS.glob("*.md"))]
    broken = []
    for page in pages:
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
            if re.match(r"[a-z]+:", target):
                continue  # a URL
            path, _, anchor = target.partition("#")
            file = page.parent / path if path else page
            if not file.exists() or (anchor and file.suffix == ".md" and anchor not in _anchors(file)):
                broken.append(f"{page.name}: {target}")
    assert not broken


def test_generative_resume_reuses_finished_runs_and_resumes_interrupted_ones(monkeypatch, tmp_path):
    from lab.bench import generative

    calls = []
    monkeypatch.setattr(generative, "run_experiment", lambda overrides, run_dir: calls.append(overrides) or {})
    (tmp_path / "vae_mnist5k").mkdir()
    (tmp_path / "vae_mnist5k" / "metrics.json").write_text('{"test/fd": 42.5}')
    (tmp_path / "gan_mnist5k" / "checkpoints").mkdir(parents=True)
    (tmp_path / "gan_mnist5k" / "checkpoints" / "last.ckpt").write_bytes(b"")
    assert generative.train_or_reuse("vae_mnist5k", tmp_path / "vae_mnist5k", quick=False) == {"test/fd": 42.5}
    assert calls == []
    generative.train_or_reuse("gan_mnist5k", tmp_path / "gan_mnist5k", quick=False)
    generative.train_or_reuse("cvae_mnist5k", tmp_path / "cvae_mnist5k", quick=False)
    assert calls[0][-2:] == ["experiment=gan_mnist5k", f"ckpt_path={tmp_path / 'gan_mnist5k/checkpoints/last.ckpt'}"]
    assert calls[1][-1] == "experiment=cvae_mnist5k"
    assert generative.sampler_seeds(quick=False, seeds=None) == [2024, 3024, 4024]


def test_lab_bench_resume_needs_an_existing_folder_and_the_generative_section(capsys, tmp_path):
    with pytest.raises(SystemExit):
        bench.main(["generative", "--resume", str(tmp_path / "missing")])
    assert "--resume " + str(tmp_path / "missing") + ": no such folder" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        bench.main(["sequence", "--resume", str(tmp_path)])
    assert "--resume applies to no section of sequence" in capsys.readouterr().err


def test_generative_sampler_table_scores_each_seed_once_and_keeps_it_in_the_folder(monkeypatch, tmp_path):
    from lab.bench import generative
    from lab.models import gen_metrics

    scored = []

    def score(metrics, real, module, options, seed, n):
        scored.append((options.get("sampler") or options["solver"], seed))
        return {"fd": float(seed % 7), "classes_covered": 10, "seconds": 2.0}

    class Module:
        num_timesteps = 1000

    monkeypatch.setattr(generative, "score_seed", score)
    monkeypatch.setattr(generative, "test_images_and_scorer", lambda cfg: (None, None))
    monkeypatch.setattr(gen_metrics, "SampleMetrics", lambda scorer: None)
    checkpoint = tmp_path / "best.ckpt"
    checkpoint.write_bytes(b"weights")
    modules = {"ddpm_mnist5k": (Module(), None, checkpoint)}
    cache_file = tmp_path / "sampler_seeds.json"

    rows = generative.sampler_rows(modules, False, [1, 2], generative.SeedCache(cache_file))
    ddpm_rows = [s for s in generative.SAMPLERS if s[0] == "ddpm_mnist5k"]
    assert len(rows) == len(ddpm_rows) and len(scored) == 2 * len(ddpm_rows)
    assert rows[0] == ["ddpm_mnist5k", "DDPM, ancestral, every step", 1000, 250.0, "1.0x", 1.5, "1.0-2.0", 10]

    scored.clear()  # a resumed benchmark takes every seed from the folder
    assert generative.sampler_rows(modules, False, [1, 2], generative.SeedCache(cache_file)) == rows
    assert scored == []
    assert generative.sampler_rows(modules, False, [1, 2, 3], generative.SeedCache(cache_file))
    assert scored == [(s[2].get("sampler") or s[2]["solver"], 3) for s in ddpm_rows]  # only the new seed

    scored.clear()  # a retrained model is scored again
    checkpoint.write_bytes(b"other weights")
    generative.sampler_rows(modules, False, [1], generative.SeedCache(cache_file))
    assert len(scored) == len(ddpm_rows)

    cache_file.write_text('{"cut')  # a corrupt cache names itself and the fix
    with pytest.raises(LabError, match="sampler_seeds.json is not readable JSON .*; delete it to draw every"):
        generative.SeedCache(cache_file)
