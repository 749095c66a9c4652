"""Write a grid of samples from a VAE or GAN checkpoint.

`python scripts/sample.py ckpt=PATH n=64 [out=FILE seed=0 nrow=8]`; out defaults to <run dir>/images/samples_n<n>.png.
"""

from __future__ import annotations

from pathlib import Path

from lab.cli import parse_args, run_cli
from lab.errors import LabError

DEFAULTS = {"ckpt": None, "n": 64, "out": None, "seed": 0, "nrow": 0}  # nrow 0: a square grid


def main(argv: list[str]) -> None:
    args = parse_args(argv, DEFAULTS, required=("ckpt",))
    if not isinstance(args["n"], int) or args["n"] < 1:
        raise LabError(f"n must be a positive integer, got {args['n']!r}")
    from lab.checkpoint import load_module
    from lab.viz import save_image_grid

    module, cfg = load_module(args["ckpt"])
    if not hasattr(module, "sample"):
        raise LabError(f"checkpoint {args['ckpt']} holds a {type(module).__name__}, which cannot sample; "
                       "give a VAE or GAN checkpoint (experiment=vae_mnist5k, dcgan_mnist5k, ...)")
    out = Path(args["out"] or Path(args["ckpt"]).resolve().parent.parent / "images" / f"samples_n{args['n']}.png")
    path = save_image_grid(module.sample(args["n"], seed=args["seed"]), out, nrow=args["nrow"] or None)
    print(f"wrote {args['n']} samples of {cfg.get('name', type(module).__name__)} to {path}")


if __name__ == "__main__":
    run_cli(main)
