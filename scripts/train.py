"""`lab-train` as a script: `python scripts/train.py experiment=NAME key=value ...` (Hydra overrides; --help)."""

from lab.train import main

if __name__ == "__main__":
    main()
