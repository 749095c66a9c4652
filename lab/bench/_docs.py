"""Benchmark tables in the docs: each table lives between `<!-- bench:NAME -->` and `<!-- /bench:NAME -->` in a
page under docs/, and `lab-bench SECTION --write` replaces that block in place, leaving the rest of the page
byte for byte as it was (a page or block that does not exist yet is created at the end)."""

from __future__ import annotations

import time
from pathlib import Path

from lab.bench import machine


def markers(name: str) -> tuple[str, str]:
    return f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"


def block(name: str, body: str) -> str:
    start, end = markers(name)
    return f"{start}\n{body.strip()}\n{end}"


def replace_block(text: str, name: str, body: str) -> str:
    """`text` with block `name` holding `body`; appended at the end when `text` has no such block."""
    start, end = markers(name)
    if text.count(start) > 1:
        raise ValueError(f"{start} appears {text.count(start)} times; a block must be unique")
    begin = text.find(start)
    if begin < 0:
        separator = "" if not text else ("\n" if text.endswith("\n") else "\n\n")
        return f"{text}{separator}{block(name, body)}\n"
    finish = text.find(end, begin)
    if finish < 0:
        raise ValueError(f"{start} has no closing {end}")
    return text[:begin] + block(name, body) + text[finish + len(end):]


def stamp(command: str, seconds: float | None = None) -> str:
    """The line that opens every written block: date, machine, the command that reproduces it."""
    took = f" ({seconds:.0f} s)" if seconds is not None else ""
    return f"Measured {time.strftime('%Y-%m-%d')} on {machine()}: `{command}`{took}."


def write_block(path: str | Path, name: str, body: str) -> Path:
    """Replace (or add) block `name` of the markdown file `path` with `body`."""
    path = Path(path)
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(replace_block(text, name, body), encoding="utf-8")
    return path
