"""Train any experiment: `python scripts/train.py experiment=NAME key=value ...` (Hydra overrides)."""

from lab.train import main

if __name__ == "__main__":
    main()
