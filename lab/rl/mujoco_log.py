"""MuJoCo's warnings without the one gymnasium's HalfCheetah model raises each time it is loaded.

MuJoCo 3.3+ deprecates the `settotalmass` compiler attribute that gymnasium's half_cheetah.xml sets; MuJoCo's
default handler prints that warning for every model it compiles (each env made: the probe, the training envs,
every evaluation) and appends it to MUJOCO_LOG.TXT in the working directory. `install()` (called where the lab
makes a MuJoCo env, never at import) sets MuJoCo's warning callback, unless one is set already: that message is
dropped and every other is printed to stderr, so none goes to MUJOCO_LOG.TXT.
"""

from __future__ import annotations

import sys

DROPPED = ("compiler attribute 'settotalmass' is deprecated",)


def _print_warning(message: str) -> None:
    if not any(part in message for part in DROPPED):
        print(f"MuJoCo WARNING: {message}", file=sys.stderr)


def install() -> None:
    """Route MuJoCo's warnings through `_print_warning` (a user's own callback is left in place)."""
    import mujoco

    if mujoco.get_mju_user_warning() is None:
        mujoco.set_mju_user_warning(_print_warning)


def is_mujoco(entry_point) -> bool:
    return "mujoco" in str(entry_point or "")
