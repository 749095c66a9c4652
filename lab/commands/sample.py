"""lab-sample: write a grid of samples from a generative checkpoint (VAE, GAN, diffusion, flow).

    lab-sample ckpt=outputs/vae_mnist5k/.../checkpoints/last.ckpt n=64
    lab-sample ckpt=PATH n=64 label=7          64 sevens from a conditional model
    lab-sample ckpt=PATH n=100 nrow=10 seed=1 out=samples.png
    lab-sample ckpt=PATH steps=50 guidance=2   any other key=value is a sampler option of the model
    lab-sample ckpt=PATH denoise=true          one sample's path from noise to image, as a strip
out defaults to <run dir>/images/samples_n<n>.png; nrow=0 makes a square grid. With no label, a conditional
model draws one row per class (n // classes images a row).
"""

from __future__ import annotations

import inspect
from pathlib import Path

from lab.commands.args import _value, parse_args, run_cli
from lab.errors import LabError

DEFAULTS = {"ckpt": None, "n": 64, "out": None, "seed": 0, "nrow": 0, "label": None, "denoise": False}


def split_options(argv: list[str]) -> tuple[list[str], dict]:
    """The command's own `key=value` words, and the others as the model's sampler options."""
    own, options = [], {}
    for word in argv:
        key, _, text = word.partition("=")
        if "=" in word and key not in DEFAULTS:
            options[key] = _value(text)
        else:
            own.append(word)
    return own, options


def sample(argv: list[str]) -> Path:
    argv, options = split_options(argv)
    args = parse_args(argv, DEFAULTS, required=("ckpt",))
    if not isinstance(args["n"], int) or args["n"] < 1:
        raise LabError(f"n must be a positive integer, got {args['n']!r}")
    label = args["label"]
    if label is not None and (not str(label).isdigit()):
        raise LabError(f"label must be a class number, got {label!r}")
    from lab.run.checkpoint import load_module
    from lab.callbacks.viz import save_image_grid

    module, cfg = load_module(args["ckpt"])
    if not hasattr(module, "sample_options"):
        raise LabError(f"checkpoint {args['ckpt']} holds a {type(module).__name__}, which cannot sample; "
                       "give a generative checkpoint (experiment=vae_mnist5k, dcgan_mnist5k, ...)")
    allowed = list(module.sample_options())
    if args["denoise"] and hasattr(module, "denoise_strip"):
        allowed += [p for p in inspect.signature(module.denoise_strip).parameters
                    if p not in ("seed", "label", "options") and p not in allowed]
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise LabError(f"unknown argument(s) {', '.join(unknown)}; keys: {', '.join(DEFAULTS)}; sampler options of "
                       f"{type(module).__name__}: {', '.join(allowed) or 'none'}")
    name = cfg.get("name", type(module).__name__)
    run_images = Path(args["ckpt"]).resolve().parent.parent / "images"
    if args["denoise"]:
        if not hasattr(module, "denoise_strip"):
            raise LabError(f"{type(module).__name__} draws in one step and has no denoising path; denoise=true "
                           "needs a diffusion or flow checkpoint")
        images = module.denoise_strip(seed=args["seed"], **({"label": int(label)} if label is not None else {}),
                                      **options)
        path = save_image_grid(images, Path(args["out"] or run_images / "denoise_strip.png"), nrow=len(images))
        print(f"wrote the denoising path of one sample of {name} to {path}")
        return path
    n, nrow = args["n"], args["nrow"] or None
    labels = None if label is None else int(label)
    if label is None and module.conditional:
        per_class = max(1, n // module.num_classes)
        labels = [c for c in range(module.num_classes) for _ in range(per_class)]
        n, nrow = len(labels), per_class
    out = Path(args["out"] or run_images / f"samples_n{n}.png")
    path = save_image_grid(module.sample(n, seed=args["seed"], labels=labels, **options), out, nrow=nrow)
    detail = f" (class {label})" if label is not None else (" (one row per class)" if module.conditional else "")
    print(f"wrote {n} samples of {name}{detail} to {path}")
    return path


def main(argv: list[str] | None = None) -> Path | None:
    """Console entry point (`lab-sample`)."""
    return run_cli(sample, argv, __doc__, DEFAULTS, required=("ckpt",))
