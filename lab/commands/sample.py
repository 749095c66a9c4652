"""lab-sample: write a grid of samples from a VAE or GAN checkpoint.

    lab-sample ckpt=outputs/vae_mnist5k/.../checkpoints/last.ckpt n=64
    lab-sample ckpt=PATH n=100 nrow=10 seed=1 out=samples.png
out defaults to <run dir>/images/samples_n<n>.png; nrow=0 makes a square grid.
"""

from __future__ import annotations

from pathlib import Path

from lab.commands.args import parse_args, run_cli
from lab.errors import LabError

DEFAULTS = {"ckpt": None, "n": 64, "out": None, "seed": 0, "nrow": 0}  # nrow 0: a square grid


def sample(argv: list[str]) -> Path:
    args = parse_args(argv, DEFAULTS, required=("ckpt",))
    if not isinstance(args["n"], int) or args["n"] < 1:
        raise LabError(f"n must be a positive integer, got {args['n']!r}")
    from lab.run.checkpoint import load_module
    from lab.callbacks.viz import save_image_grid

    module, cfg = load_module(args["ckpt"])
    if not hasattr(module, "sample"):
        raise LabError(f"checkpoint {args['ckpt']} holds a {type(module).__name__}, which cannot sample; "
                       "give a VAE or GAN checkpoint (experiment=vae_mnist5k, dcgan_mnist5k, ...)")
    out = Path(args["out"] or Path(args["ckpt"]).resolve().parent.parent / "images" / f"samples_n{args['n']}.png")
    path = save_image_grid(module.sample(args["n"], seed=args["seed"]), out, nrow=args["nrow"] or None)
    print(f"wrote {args['n']} samples of {cfg.get('name', type(module).__name__)} to {path}")
    return path


def main(argv: list[str] | None = None) -> Path | None:
    """Console entry point (`lab-sample`)."""
    return run_cli(sample, argv, __doc__, DEFAULTS, required=("ckpt",))
