"""`lab-sample` as a script: `python scripts/sample.py --help` (the code is lab/commands/sample.py)."""

from lab.commands.sample import main

if __name__ == "__main__":
    main()
