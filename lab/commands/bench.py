"""lab-bench: benchmarks, side by side in one run, printed as markdown tables.

    lab-bench                       # every section
    lab-bench overhead rl --quick   # some sections, fewer repeats
    lab-bench gpu --write BENCHMARKS.md
Sections live in lab/bench/ (overhead, rl, generative, sequence, scaling, gpu, ...).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from lab.bench import machine, sections


def main(argv: list[str] | None = None) -> None:
    """Console entry point (`lab-bench`)."""
    from lab.run import quiet

    available = sections()
    parser = argparse.ArgumentParser(prog="lab-bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sections", nargs="*", help=f"any of: {', '.join(available)} (default: all)")
    parser.add_argument("--quick", action="store_true", help="fewer repeats and steps: a smoke run")
    parser.add_argument("--write", metavar="FILE", help="also write the tables to this markdown file")
    args = parser.parse_args(argv)
    unknown = [s for s in args.sections if s not in available]
    if unknown:
        parser.error(f"unknown section(s) {', '.join(unknown)}; choose from {', '.join(available)}")
    quiet.install()
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
