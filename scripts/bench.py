"""Benchmarks, side by side in one run: `python scripts/bench.py [SECTION ...] [--quick] [--write BENCHMARKS.md]`.

Sections live in lab/bench/ (overhead, rl, generative, sequence, scaling, ...); with none named, all run.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from lab.bench import machine, sections


def main(argv: list[str] | None = None) -> None:
    available = sections()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("sections", nargs="*", help=f"any of: {', '.join(available)}")
    parser.add_argument("--quick", action="store_true", help="fewer repeats and steps: a smoke run")
    parser.add_argument("--write", metavar="FILE", help="also write the tables to this markdown file")
    args = parser.parse_args(argv)
    unknown = [s for s in args.sections if s not in available]
    if unknown:
        parser.error(f"unknown section(s) {', '.join(unknown)}; choose from {', '.join(available)}")
    report = [f"# Benchmarks\n\nMeasured on: {machine()}; {time.strftime('%Y-%m-%d')}.\n"]
    for name in args.sections or list(available):
        module = available[name]
        print(f"## {module.TITLE} ...", file=sys.stderr, flush=True)
        started = time.perf_counter()
        body = module.run(quick=args.quick)
        section = f"## {module.TITLE}\n\n{body}\n\n({time.perf_counter() - started:.0f} s to measure)\n"
        print(section, flush=True)
        report.append(section)
    if args.write:
        Path(args.write).write_text("\n".join(report))


if __name__ == "__main__":
    main()
