"""lab-bench: benchmarks, side by side in one run, printed as markdown tables.

    lab-bench                                    # every section
    lab-bench overhead rl --quick                # some sections, fewer repeats (a smoke run)
    lab-bench rl --only ppo_cartpole --seeds 5 --write   # re-measure one table into docs/benchmarks.md
Sections live in lab/bench/ (overhead, rl, rl_results, atari, scaling, generative, sequence, gpu). With --write,
each table replaces its own `<!-- bench:NAME -->` block in docs/benchmarks.md or docs/results.md, stamped with the
date, the machine and the command that reproduces it; the rest of the page is left as it was.
"""

from __future__ import annotations

import argparse
import inspect
import shlex
import sys
import time
from pathlib import Path

from lab.bench import sections


def _options(module, args) -> dict:
    """The section-specific options given on the command line that this section's run() takes."""
    accepted = inspect.signature(module.run).parameters
    given = {"seeds": args.seeds, "only": args.only, "pictures": Path(args.docs) if args.write else None,
             "resume": args.resume}
    return {key: value for key, value in given.items() if value is not None and key in accepted}


def _command(name: str, options: dict, write: bool) -> str:
    words = ["lab-bench", name]
    if "only" in options:
        words += ["--only", ",".join(options["only"])]
    if "seeds" in options:
        words += ["--seeds", str(options["seeds"])]
    if "resume" in options:
        words += ["--resume", str(options["resume"])]
    return shlex.join(words + (["--write"] if write else []))


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):
        """Bad input is one line and exit 2, as with every lab command (argparse would print its usage first)."""
        print(f"error: {message}; `lab-bench --help` lists the sections and options", file=sys.stderr)
        raise SystemExit(2)


def main(argv: list[str] | None = None) -> int:
    """Console entry point (`lab-bench`)."""
    from lab.bench._docs import stamp, write_block
    from lab.run import quiet

    available = sections()
    parser = _Parser(prog="lab-bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sections", nargs="*", help=f"any of: {', '.join(available)} (default: all)")
    parser.add_argument("--quick", action="store_true", help="fewer repeats and steps: a smoke run (not writable)")
    parser.add_argument("--seeds", type=int, metavar="N",
                        help="rl, rl_results: seeds 0..N-1; generative: seeds of the sampler table")
    parser.add_argument("--only", type=lambda text: text.split(","), metavar="NAME[,NAME]",
                        help="some experiments of a section (rl: ppo_cartpole, dqn_cartpole, sac_pendulum)")
    parser.add_argument("--resume", type=Path, metavar="DIR",
                        help="generative: continue the runs in DIR (the folder an earlier run printed); finished "
                             "experiments there are not trained again, nor sampler seeds drawn again")
    parser.add_argument("--write", action="store_true",
                        help="replace each measured table's block in the docs pages (docs/benchmarks.md, results.md)")
    parser.add_argument("--docs", default="docs", metavar="DIR", help="the docs folder --write writes into (docs)")
    args = parser.parse_args(argv)
    chosen = args.sections or list(available)
    unknown = [s for s in chosen if s not in available]
    if unknown:
        parser.error(f"unknown section(s) {', '.join(unknown)}; choose from {', '.join(available)}")
    if args.quick and args.write:
        parser.error("--quick is a smoke run: its numbers are not written to the docs; drop one of the two")
    if args.seeds is not None and args.seeds < 1:
        parser.error(f"--seeds must be at least 1, got {args.seeds}")
    if args.resume is not None and not args.resume.is_dir():
        parser.error(f"--resume {args.resume}: no such folder; give the folder an earlier run printed")
    for flag in ("seeds", "only", "resume"):
        takers = [s for s in chosen if flag in inspect.signature(available[s].run).parameters]
        if getattr(args, flag) is not None and not takers:
            parser.error(f"--{flag} applies to no section of {', '.join(chosen)}")
    quiet.install()
    for name in chosen:
        module = available[name]
        options = _options(module, args)
        print(f"## {module.TITLE} ...", file=sys.stderr, flush=True)
        started = time.perf_counter()
        result = module.run(quick=args.quick, **options)
        seconds = time.perf_counter() - started
        blocks = result if isinstance(result, dict) else {name: result}
        print(f"## {module.TITLE}\n", flush=True)
        for block_name, body in blocks.items():
            print(f"{body}\n", flush=True)
            if args.write:
                page = Path(args.docs) / getattr(module, "DOC", "benchmarks.md")
                write_block(page, block_name, f"{stamp(_command(name, options, True), seconds)}\n\n{body}")
                print(f"(wrote block {block_name} of {page})", file=sys.stderr, flush=True)
        print(f"({seconds:.0f} s to measure)\n", flush=True)
    return 0
