"""lab-translate: translate text with a trained encoder-decoder (dates as people write them -> ISO dates).

    lab-translate ckpt=outputs/seq2seq_attention/.../checkpoints/last.ckpt text="Thursday, March 3, 1994"
    lab-translate ckpt=PATH text="3rd of March, 1994" beam=5
"""

from lab.run.checkpoint import load_module
from lab.commands.args import parse_args, run_cli
from lab.errors import LabError

DEFAULTS = {"ckpt": None, "text": None, "beam": 1}


def translate(argv: list[str]) -> str:
    args = parse_args(argv, DEFAULTS, required=("ckpt", "text"))
    beam = args["beam"]
    if not isinstance(beam, int) or isinstance(beam, bool) or beam < 1:
        raise LabError(f"beam must be a whole number >= 1 (1 = greedy), got {beam!r}")
    module, _ = load_module(args["ckpt"])
    if not hasattr(module, "translate"):
        raise LabError(f"{args['ckpt']} holds a {type(module).__name__}, not a translator; "
                       "train one with experiment=seq2seq_attention")
    (output,) = module.translate([args["text"]], beam=beam)
    print(output)
    return output


def main(argv: list[str] | None = None) -> str | None:
    """Console entry point (`lab-translate`)."""
    return run_cli(translate, argv, __doc__, DEFAULTS, required=("ckpt", "text"))
