"""Helpers for distributed runs: summing per-rank rates, and a per-rank report that tests and users can check."""
