"""One LightningModule per family: steps, losses, metrics and optimisers."""
