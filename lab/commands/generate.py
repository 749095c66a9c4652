"""lab-generate: sample text from a trained character language model.

    lab-generate ckpt=outputs/charlm_transformer/.../checkpoints/last.ckpt
    lab-generate ckpt=PATH prompt="And " length=500 temperature=0.8 top_k=null seed=0
                                                  prompt: default, the model's sample_prompt
    lab-generate ckpt=PATH greedy=true            the most likely character at every step
    lab-generate ckpt=PATH cache=false            an attention model recomputes its window for every character
"""

from lab.run.checkpoint import load_module
from lab.commands.args import parse_args, run_cli
from lab.errors import LabError

DEFAULTS = {"ckpt": None, "prompt": None, "length": 500, "temperature": 0.8, "top_k": None, "seed": 0,
            "greedy": False, "cache": True}


def generate(argv: list[str]) -> str:
    import torch

    args = parse_args(argv, DEFAULTS, required=("ckpt",))
    for key in ("greedy", "cache"):
        if not isinstance(args[key], bool):
            raise LabError(f"{key} must be true or false, got {args[key]!r}")
    module, _ = load_module(args["ckpt"])
    if not hasattr(module, "generate"):
        raise LabError(f"{args['ckpt']} holds a {type(module).__name__}, not a language model; "
                       "train one with experiment=charlm_transformer")
    top_k = int(args["top_k"]) if args["top_k"] not in (None, "", "null", "None") else None
    temperature = 0.0 if args["greedy"] else float(args["temperature"])
    generator = torch.Generator().manual_seed(int(args["seed"]))
    prompt = args["prompt"] if args["prompt"] is not None else module.hparams.sample_prompt
    text = module.generate(prompt, int(args["length"]), temperature, top_k, generator, cache=args["cache"])
    print(text)
    return text


def main(argv: list[str] | None = None) -> str | None:
    """Console entry point (`lab-generate`)."""
    return run_cli(generate, argv, __doc__, DEFAULTS, required=("ckpt",))
