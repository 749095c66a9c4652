"""`lab-generate` as a script: `python scripts/generate.py --help` (the code is lab/commands/generate.py)."""

from lab.commands.generate import main

if __name__ == "__main__":
    main()
