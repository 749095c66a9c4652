"""`key=value` arguments for the console commands (lab-evaluate, lab-sample, lab-generate, lab-sweep), with --help."""

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


def help_text(doc: str, defaults: dict[str, Any], required: tuple[str, ...] = ()) -> str:
    """The command's docstring (usage and examples) followed by every key with its default."""
    width = max(len(key) for key in defaults)
    lines = [doc.strip(), "", "keys (key=value):"]
    for key, value in defaults.items():
        shown = "required" if key in required else f"default {value!r}"
        lines.append(f"  {key:<{width}}  {shown}")
    return "\n".join(lines)


def run_cli(main, argv: list[str] | None = None, doc: str = "", defaults: dict[str, Any] | None = None,
            required: tuple[str, ...] = ()):
    """Call `main(argv)`: `-h`/`--help` prints the usage and keys; a LabError is one line on stderr and exit 2.

    Called from Python with `argv`, it returns what `main` returns. As a console command (`argv` None: the words
    of sys.argv) it returns None, so that the launcher's `sys.exit(...)` exits 0 after the command printed its
    result once."""
    from lab.run import quiet

    console = argv is None
    argv = sys.argv[1:] if console else argv
    if any(word in ("-h", "--help") for word in argv):
        print(help_text(doc, defaults or {}, required))
        return None
    quiet.install()
    try:
        result = main(argv)
    except LabError as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    return None if console else result
