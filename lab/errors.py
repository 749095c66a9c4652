"""The lab's one exception type: a message that names the problem and the fix."""


class LabError(Exception):
    """A user-facing error. Launchers print its message (no traceback) and exit with status 2."""
