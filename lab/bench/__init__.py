"""Benchmark sections for scripts/bench.py: each module has TITLE and run(quick) -> markdown table."""

from __future__ import annotations

import importlib
import pkgutil
import platform
import os


def sections() -> dict[str, object]:
    """Every benchmark module in this package, by name."""
    names = [m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")]
    return {name: importlib.import_module(f"{__name__}.{name}") for name in sorted(names)}


def machine() -> str:
    """One line naming where the numbers were measured."""
    import torch

    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{platform.machine()} CPU, {os.cpu_count()} cores, {device}, torch {torch.__version__}"


def table(header: list[str], rows: list[list]) -> str:
    """A markdown table; floats get 3 significant digits or thousands separators."""
    def cell(value) -> str:
        if isinstance(value, float):
            return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}"
        return str(value)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)
