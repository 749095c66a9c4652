"""The final metrics of a run, printed once as a table: the same keys and values as its metrics.json."""

from __future__ import annotations

from pathlib import Path


def _format(value: float) -> str:
    if value != value or abs(value) in (float("inf"),):
        return str(value)
    if float(value).is_integer() and abs(value) < 1e15:
        return f"{int(value):,}"
    return f"{value:.4g}" if abs(value) < 1e5 else f"{value:,.0f}"


def print_metrics(metrics: dict[str, float], path: Path | None = None) -> None:
    """A two-column table of every metric, sorted by name, with where the file was written."""
    from rich.console import Console
    from rich.table import Table

    table = Table(show_edge=False)
    table.add_column("metric", style="cyan")
    table.add_column("value", justify="right")
    for key in sorted(metrics):
        table.add_row(key, _format(metrics[key]))
    console = Console()
    console.print(table)
    if path is not None:
        console.print(f"metrics written to {path}", soft_wrap=True)
