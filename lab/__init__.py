"""The lab: classic model families as LightningModules, driven by Hydra configs."""

from lab import quiet as _quiet  # noqa: F401  (silences library noise before anything else loads)

__version__ = "0.1.0"
