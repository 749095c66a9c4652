"""`lab-evaluate` as a script: `python scripts/evaluate.py --help` (the code is lab/commands/evaluate.py)."""

from lab.commands.evaluate import main

if __name__ == "__main__":
    main()
