"""What running an experiment needs, apart from the models: checkpoints, run directories, config checks,
precision, W&B mode, the console, and the guarded Lightning speed-ups. Imports no model."""
