"""When the reader of our output has gone (`report | head`): the standard library only, so both the
light parser side (common.py) and the rich Console (console.py) use it without importing each other."""

from __future__ import annotations

import os
import sys

__all__ = ["silence_stdout"]


def silence_stdout() -> None:
    """The reader of our output has gone (`| head`): what is left to print goes to /dev/null.

    Python's own flush at exit would otherwise fail on the closed pipe once more, and say so.
    """
    try:
        fd = sys.stdout.fileno()
    except (OSError, ValueError):  # not a real file (a test's capture): nothing to redirect
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)
