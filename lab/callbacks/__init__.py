"""Lightning callbacks shared by every family."""

from lab.callbacks.config_in_checkpoint import ConfigInCheckpoint
from lab.callbacks.nonfinite_guard import NonFiniteLossGuard
from lab.callbacks.progress import LabProgressBar
from lab.callbacks.throughput import Throughput

__all__ = ["ConfigInCheckpoint", "LabProgressBar", "NonFiniteLossGuard", "Throughput"]
