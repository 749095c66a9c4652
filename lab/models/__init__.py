"""One LightningModule per family: steps, losses, metrics and optimisers."""

from lab import fast_log as _fast_log  # noqa: F401  (cheap self.log for every module here)
