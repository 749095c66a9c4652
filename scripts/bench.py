"""`lab-bench` as a script: `python scripts/bench.py --help` (the code is lab/commands/bench.py)."""

from lab.commands.bench import main

if __name__ == "__main__":
    main()
