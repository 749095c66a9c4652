"""One LightningModule per family: steps, losses, metrics and optimisers."""

from lab import fast_lightning as _fast_lightning  # noqa: F401  (cheaper per-step Lightning for every module)
