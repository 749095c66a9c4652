"""The lab: classic model families as LightningModules, driven by Hydra configs.

The Python API is two functions:

    from lab import run_experiment, load_module
    metrics = run_experiment(["experiment=xor_mlp"])          # train; metrics["run_dir"] is where it wrote
    module, cfg = load_module(f"{metrics['run_dir']}/checkpoints/last.ckpt")

Importing the lab changes nothing outside it: the lab's own runs switch on what they need (lab.run.quiet,
lab.run.fast_lightning). Both names load on first use, so `import lab` stays cheap.
"""

__version__ = "0.1.0"
__all__ = ["load_module", "run_experiment"]


def __getattr__(name: str):
    if name == "run_experiment":
        from lab.train import run_experiment

        return run_experiment
    if name == "load_module":
        from lab.run.checkpoint import load_module

        return load_module
    raise AttributeError(f"module 'lab' has no attribute {name!r}")
