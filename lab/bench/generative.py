"""Generative models on mnist5k, side by side in one run: every generative experiment as shipped, scored by the same
cached metric classifier, and the diffusion and flow samplers at several step counts.

Everything trains through `lab.train.run_experiment` on the 5,000 embedded MNIST digits (4,000 train, 500 test), not
full MNIST, and the Fréchet distance is in the features of the cached LeNet-5 of `lab.models.gen_metrics` (trained
once per data set), not Inception: the numbers compare with each other, not with the literature's.
"""

from __future__ import annotations

import itertools
import json
import shutil
import tempfile
import time
from pathlib import Path

import torch

from lab.bench import table
from lab.errors import LabError
from lab.train import run_experiment

DOC = "results.md"
TITLE = "Generative models on mnist5k"
QUIET = ["logger=none", "~callbacks.progress_bar", "trainer.enable_progress_bar=false"]
EXPERIMENTS = ("vae_mnist5k", "convvae_mnist5k", "cvae_mnist5k", "gan_mnist5k", "dcgan_mnist5k", "cgan_mnist5k",
               "wgangp_mnist5k", "ddpm_mnist5k", "ddpm_cond_mnist5k", "flow_mnist5k", "flow_cond_mnist5k")
# The longest runs first; the table keeps EXPERIMENTS' order.
RUN_ORDER = ("ddpm_mnist5k", "flow_mnist5k", "ddpm_cond_mnist5k", "flow_cond_mnist5k", "vae_mnist5k", "convvae_mnist5k",
             "cvae_mnist5k", "gan_mnist5k", "dcgan_mnist5k", "cgan_mnist5k", "wgangp_mnist5k")
# Sampler settings compared on one trained model each: (experiment, label, sample() options, net calls per image).
SAMPLERS = (
    ("ddpm_mnist5k", "DDPM, ancestral, every step", {"sampler": "ddpm"}, None),
    ("ddpm_mnist5k", "DDIM 50 steps, eta 0", {"sampler": "ddim", "steps": 50, "eta": 0.0}, 50),
    ("ddpm_mnist5k", "DDIM 50 steps, eta 1", {"sampler": "ddim", "steps": 50, "eta": 1.0}, 50),
    ("ddpm_mnist5k", "DDIM 20 steps, eta 1", {"sampler": "ddim", "steps": 20, "eta": 1.0}, 20),
    ("flow_mnist5k", "flow, Euler 10 steps", {"solver": "euler", "steps": 10}, 10),
    ("flow_mnist5k", "flow, Euler 20 steps", {"solver": "euler", "steps": 20}, 20),
    ("flow_mnist5k", "flow, Heun 10 steps", {"solver": "heun", "steps": 10}, 20),
    ("flow_mnist5k", "flow, Heun 20 steps", {"solver": "heun", "steps": 20}, 40),
)
SAMPLER_IMAGES, QUICK_SAMPLER_IMAGES = 500, 20
SEED = 2024
# Fréchet distances of 500 samples swing by a third between seeds (mostly the classes' shares among the samples),
# so each sampler setting is scored on several seeds and the table gives the mean and the range.
SAMPLER_SEEDS, QUICK_SAMPLER_SEEDS = 3, 1


def quick_overrides(name: str) -> list[str]:
    """A smoke run: one short epoch, few sampler steps."""
    extra = ["trainer.max_epochs=1", "+trainer.limit_train_batches=5", "+trainer.limit_val_batches=0"]
    if name.startswith("ddpm"):
        extra += ["model.num_timesteps=100", "model.steps=5"]
    elif name.startswith("flow"):
        extra += ["model.steps=5"]
    return extra


def checkpoint_of(run_dir: Path) -> Path:
    """The checkpoint the run tested: the best by its monitored metric, else the last (EMA weights where used)."""
    best = sorted((run_dir / "checkpoints").glob("best-*.ckpt"))
    return best[-1] if best else run_dir / "checkpoints" / "last.ckpt"


def images_per_second(module, n: int, **options) -> float:
    module.sample(2, seed=0, **options)  # warm-up
    start = time.perf_counter()
    module.sample(n, seed=0, **options)
    return n / (time.perf_counter() - start)


def test_images_and_scorer(cfg):
    """The run's test images and the cached metric classifier the run scored its samples with."""
    from hydra.utils import instantiate

    from lab.models.gen_metrics import load_scorer

    datamodule = instantiate(cfg.data, _convert_="all")
    datamodule.setup("test")
    images = torch.cat([batch[0] for batch in datamodule.test_dataloader()])
    datamodule.setup("fit")
    scorer = load_scorer(None, tuple(cfg.model.image_shape), int(cfg.model.num_classes),
                         datamodule.train_dataloader, int(cfg.model.classifier_epochs))
    return images, scorer


def sampler_seeds(quick: bool, seeds: int | None) -> list[int]:
    """The seeds each sampler setting is scored on: SEED, SEED + 1000, ..."""
    return [SEED + 1000 * i for i in range(seeds or (QUICK_SAMPLER_SEEDS if quick else SAMPLER_SEEDS))]


def score_seed(metrics, real, module, options: dict, seed: int, n: int) -> dict:
    """FD and classes covered of `n` samples drawn with `options` from `seed` on, and the seconds the drawing took."""
    metrics.reset()
    metrics.update_real(real)
    chunk_seeds = itertools.count(seed)  # one seed per chunk of sample_batch images
    start = time.perf_counter()
    result = metrics.compute(lambda k, labels: module.sample(k, seed=next(chunk_seeds), **options), n=n)
    return {"fd": float(result["fd"]), "classes_covered": int(result["classes_covered"]),
            "seconds": time.perf_counter() - start}


class SeedCache:
    """Per-seed sampler results kept in the benchmark's folder, so `--resume` scores only what is new: keyed by the
    checkpoint (path, size, modification time), the sampler options, the seed and the number of images."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.entries = {}
        if path is not None and path.is_file():
            try:
                self.entries = json.loads(path.read_text())
            except ValueError as error:
                raise LabError(f"{path} is not readable JSON ({error}); delete it to draw every sampler seed "
                               "again") from error

    @staticmethod
    def key(checkpoint: Path, options: dict, seed: int, n: int) -> str:
        stat = checkpoint.stat()
        return json.dumps([str(checkpoint), stat.st_size, stat.st_mtime_ns, options, seed, n], sort_keys=True)

    def get(self, key: str) -> dict | None:
        return self.entries.get(key)

    def put(self, key: str, result: dict) -> None:
        self.entries[key] = result
        if self.path is not None:
            self.path.write_text(json.dumps(self.entries, indent=1))


def sampler_rows(modules: dict, quick: bool, seeds: list[int], cache: SeedCache | None = None) -> list[list]:
    """FD (mean and range over `seeds`) and speed of each sampler setting, `n` images a seed, against the 500 test
    images; the same seeds for every setting. `modules` maps an experiment to (module, config, checkpoint)."""
    from lab.models.gen_metrics import SampleMetrics

    n = QUICK_SAMPLER_IMAGES if quick else SAMPLER_IMAGES
    if not any(experiment in modules for experiment, *_ in SAMPLERS):
        return []
    cache = cache or SeedCache(None)
    real, scorer = test_images_and_scorer(next(cfg for module, cfg, _ in modules.values()))
    metrics = SampleMetrics(scorer)
    rows, full_speed = [], None
    for experiment, label, options, calls in SAMPLERS:
        if experiment not in modules:
            continue
        module, _, checkpoint = modules[experiment]
        calls = calls or module.num_timesteps
        results = []
        for seed in seeds:
            key = SeedCache.key(checkpoint, options, seed, n)
            result = cache.get(key)
            if result is None:
                result = score_seed(metrics, real, module, options, seed, n)
                cache.put(key, result)
                print(f"{experiment}, {label}, seed {seed}: Fréchet distance {result['fd']:.2f} "
                      f"({result['seconds']:.0f} s)", flush=True)
            results.append(result)
        fds = [r["fd"] for r in results]
        speed = n * len(seeds) / sum(r["seconds"] for r in results)
        full_speed = full_speed or speed
        rows.append([experiment, label, calls, speed, f"{speed / full_speed:.1f}x", sum(fds) / len(fds),
                     f"{min(fds):.1f}-{max(fds):.1f}", min(r["classes_covered"] for r in results)])
    return rows


def train_or_reuse(name: str, run_dir: Path, quick: bool) -> dict:
    """The metrics of `name`'s run in `run_dir`: a finished run there (metrics.json with a test FD) is reused, an
    interrupted one resumes from its last checkpoint, and a missing one is trained."""
    finished = run_dir / "metrics.json"
    if finished.is_file() and "test/fd" in (metrics := json.loads(finished.read_text())):
        print(f"(reusing the finished run {run_dir})", flush=True)
        return metrics
    overrides = QUIET + [f"experiment={name}"] + (quick_overrides(name) if quick else [])
    saved = [run_dir / "checkpoints" / f"{kind}.ckpt" for kind in ("interrupted", "last")]
    latest = max((ckpt for ckpt in saved if ckpt.is_file()), key=lambda ckpt: ckpt.stat().st_mtime, default=None)
    return run_experiment(overrides + ([f"ckpt_path={latest}"] if latest else []), run_dir)


def run(quick: bool = False, only: list[str] | None = None, pictures: Path | None = None,
        seeds: int | None = None, resume: Path | None = None) -> dict[str, str]:
    """Every experiment of `only` (default: all) trained into one folder (`resume`: continue the one of an earlier,
    interrupted run: its finished experiments are not trained again), then the sampler table over `seeds` seeds (each
    seed's result is kept in the folder's sampler_seeds.json and not drawn again)."""
    from lab.run.checkpoint import load_module

    chosen = [name for name in RUN_ORDER if not only or name in only]
    root = Path(resume) if resume else Path(tempfile.mkdtemp(prefix="bench-generative-"))
    print(f"(runs in {root}; `--resume {root}` continues this benchmark if it is interrupted)", flush=True)
    rows, modules, grids = [], {}, []
    for name in chosen:
        run_dir = root / name
        m = train_or_reuse(name, run_dir, quick)
        checkpoint = checkpoint_of(run_dir)
        module, cfg = load_module(checkpoint)
        modules[name] = module, cfg, checkpoint
        agreement = m.get("test/class_agreement")
        rows.append([EXPERIMENTS.index(name), name, int(cfg.trainer.max_epochs), m["test/fd"],
                     int(m["test/classes_covered"]), "-" if agreement is None else agreement,
                     m.get("perf/samples_per_sec", float("nan")),
                     images_per_second(module, 20 if quick else 100), m["time/fit_seconds"] / 60])
        grid = next(iter(sorted((run_dir / "images").glob("test_samples*.png"))), None)
        if pictures is not None and grid is not None:
            target = pictures / "samples" / f"{name}.png"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(grid, target)
            grids.append(name)
    grids.sort(key=EXPERIMENTS.index)
    blocks = {"generative": "\n".join([
        f"{torch.get_num_threads()} torch thread(s); seed 0; each experiment as shipped"
        + (" (quick: 5 batches of one epoch)" if quick else "") + ". Fréchet distance: 500 samples against the 500 "
        "test images in the cached LeNet-5's features; classes covered: classes given at least a quarter of a "
        "uniform share of the samples; class agreement (conditional models): the fraction of samples drawn for class "
        "c that the classifier labels c. Train images/s: the last epoch's `perf/samples_per_sec`; sampling images/s: "
        "100 images with the experiment's own sampler settings, after a warm-up.", "",
        table(["experiment", "epochs", "Fréchet distance", "classes covered", "class agreement", "train images/s",
               "sampling images/s", "fit minutes"], [row[1:] for row in sorted(rows)])])}
    for start in range(0, len(grids), 4):  # the test-stage sample grids, four to a table
        some = grids[start:start + 4]
        blocks["generative"] += "\n\n" + "\n".join(
            [f"| {' | '.join(some)} |", "|" + "---|" * len(some),
             "| " + " | ".join(f"![{g}](samples/{g}.png)" for g in some) + " |"])
    used_seeds = sampler_seeds(quick, seeds)
    samplers = sampler_rows(modules, quick, used_seeds, SeedCache(root / "sampler_seeds.json"))
    if samplers:
        n = QUICK_SAMPLER_IMAGES if quick else SAMPLER_IMAGES
        blocks["generative/samplers"] = "\n".join([
            f"The trained ddpm_mnist5k and flow_mnist5k from the table above; each setting draws {n} samples on each "
            f"of the seeds {', '.join(map(str, used_seeds))} (the same for every setting), scored against the 500 "
            "test images. Fréchet distance: the mean over the seeds, and its range. Speed-up: images/s over the "
            "first row's (the same U-Net in both models). Each seed's draw is timed when it is made; `--resume` "
            "takes seeds already drawn from the benchmark's folder.", "",
            table(["model", "sampler", "net calls per image", "sampling images/s", "speed-up",
                   "Fréchet distance (mean)", "range over seeds", "classes covered (fewest)"], samplers)])
    return blocks
