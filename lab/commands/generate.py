"""lab-generate: sample text from a trained character language model.

    lab-generate ckpt=outputs/charlm_lstm/.../checkpoints/last.ckpt
    lab-generate ckpt=PATH prompt="def " length=500 temperature=0.8 top_k=null seed=0
"""

from lab.run.checkpoint import load_module
from lab.commands.args import parse_args, run_cli
from lab.errors import LabError

DEFAULTS = {"ckpt": None, "prompt": "def ", "length": 500, "temperature": 0.8, "top_k": None, "seed": 0}


def generate(argv: list[str]) -> str:
    import torch

    args = parse_args(argv, DEFAULTS, required=("ckpt",))
    module, _ = load_module(args["ckpt"])
    if not hasattr(module, "generate"):
        raise LabError(f"{args['ckpt']} holds a {type(module).__name__}, not a language model; "
                       "train one with experiment=charlm_lstm")
    top_k = int(args["top_k"]) if args["top_k"] not in (None, "", "null", "None") else None
    generator = torch.Generator().manual_seed(int(args["seed"]))
    text = module.generate(args["prompt"], int(args["length"]), float(args["temperature"]), top_k, generator)
    print(text)
    return text


def main(argv: list[str] | None = None) -> str | None:
    """Console entry point (`lab-generate`)."""
    return run_cli(generate, argv, __doc__, DEFAULTS, required=("ckpt",))
