"""Benchmark sections of lab-bench: each public module has TITLE, DOC (the page under docs/ its tables go to) and
run(quick, ...) -> a markdown body, or {block name: body} for a section that writes several blocks."""

from __future__ import annotations

import importlib
import pkgutil
import platform
import os


def sections() -> dict[str, object]:
    """Every benchmark module in this package, by name."""
    names = [m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")]
    return {name: importlib.import_module(f"{__name__}.{name}") for name in sorted(names)}


def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo on Linux; else what `platform` knows)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> str:
    """One line naming where the numbers were measured."""
    import torch

    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{platform.machine()}, {cpu_model()}, {os.cpu_count()} cores, {device}, torch {torch.__version__}"


def table(header: list[str], rows: list[list]) -> str:
    """A markdown table; floats get 3 significant digits or thousands separators."""
    def cell(value) -> str:
        if isinstance(value, float):
            return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}"
        return str(value)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)
