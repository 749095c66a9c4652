"""Lightning's WandbLogger as the lab configures it (conf/logger/wandb.yaml)."""

from __future__ import annotations

from pytorch_lightning.loggers import WandbLogger as LightningWandbLogger


class WandbLogger(LightningWandbLogger):
    """Lightning's logger, minus the `anonymous=None` it always hands to `wandb.init`: W&B >= 0.19 prints a
    deprecation warning for that setting whatever its value. (Lightning already passes `resume="allow"`, so a
    resumed run given its old `id` continues the same W&B run.)"""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        init_args = getattr(self, "_wandb_init", None)
        if isinstance(init_args, dict) and init_args.get("anonymous") is None:
            init_args.pop("anonymous", None)
