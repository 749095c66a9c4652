"""`key=value` argument parsing for the small scripts (evaluate, sample, generate)."""

from __future__ import annotations

import ast
import sys
from typing import Any

from lab.errors import LabError


def _value(text: str) -> Any:
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("null", "none"):
        return None
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def parse_args(argv: list[str], defaults: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    """Parse `key=value` words over `defaults`; unknown keys and missing required keys are errors."""
    args = dict(defaults)
    for word in argv:
        if "=" not in word:
            raise LabError(f"argument {word!r} is not key=value; known keys: {', '.join(sorted(defaults))}")
        key, text = word.split("=", 1)
        if key not in defaults:
            raise LabError(f"unknown argument {key!r}; known keys: {', '.join(sorted(defaults))}")
        args[key] = text if defaults[key] is None or isinstance(defaults[key], str) else _value(text)
    missing = [key for key in required if args.get(key) in (None, "")]
    if missing:
        raise LabError(f"missing argument(s): {', '.join(k + '=...' for k in missing)}")
    return args


def run_cli(main, argv: list[str] | None = None) -> None:
    """Call `main(argv)`; print a LabError as one line on stderr and exit with status 2."""
    try:
        main(sys.argv[1:] if argv is None else argv)
    except LabError as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
