"""Benchmark sections of lab-bench: each public module has TITLE, DOC (the page under docs/ its tables go to) and
run(quick, ...) -> a markdown body, or {block name: body} for a section that writes several blocks."""

from __future__ import annotations

import importlib
import os
import pkgutil
import platform
from collections.abc import Mapping


class _Sections(Mapping):
    """Section name -> module, imported when first looked up (listing the names imports nothing)."""

    def __init__(self, names: list[str]) -> None:
        self._names = names

    def __getitem__(self, name: str):
        if name not in self._names:
            raise KeyError(name)
        return importlib.import_module(f"{__name__}.{name}")

    def __iter__(self):
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


def sections() -> Mapping[str, object]:
    """Every benchmark module in this package, by name."""
    return _Sections(sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")))


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
