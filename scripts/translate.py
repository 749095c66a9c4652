"""`lab-translate` as a script: `python scripts/translate.py --help` (the code is lab/commands/translate.py)."""

from lab.commands.translate import main

if __name__ == "__main__":
    main()
