"""`lab-sweep` as a script: `python scripts/sweep.py --help` (the code is lab/commands/sweep.py)."""

from lab.commands.sweep import main

if __name__ == "__main__":
    main()
