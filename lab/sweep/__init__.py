"""Hyperparameter sweeps in W&B's own format: on W&B with an account, else a local driver (see scripts/sweep.py)."""
