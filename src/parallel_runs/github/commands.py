"""Workflow commands (`::group::`, `::add-mask::`, `::error::`, ...) as text for the runner to read.

Pure formatting, plus `Annotations`, which keeps a step within the 10 annotations GitHub shows.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable

__all__ = [
    "MAX_ANNOTATIONS",
    "Annotations",
    "add_mask",
    "annotation",
    "end_group",
    "escape_data",
    "escape_property",
    "group",
    "resume_commands",
    "stop_commands",
]

MAX_ANNOTATIONS = 10  # GitHub shows at most 10 error and 10 warning annotations per step


def escape_data(text: str) -> str:
    """A command's message: `%`, CR and LF escaped as the runner unescapes them."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A command property (`title=`): also `:` and `,` escaped."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def add_mask(value: str) -> str:
    """Tell the runner to hide `value` in every later line of the log (one line per line of value)."""
    return "\n".join(f"::add-mask::{line}" for line in value.splitlines() if line.strip())


def group(title: str) -> str:
    """Start a collapsible group in the log."""
    return f"::group::{escape_data(title)}"


def end_group() -> str:
    """End the current group."""
    return "::endgroup::"


def stop_commands() -> tuple[str, str]:
    """(start, end) lines between which the runner reads no workflow command, so a run's own output
    cannot annotate, mask, or end our group; the token is random, so the output cannot guess it."""
    token = f"parallel-runs-{secrets.token_hex(16)}"
    return f"::stop-commands::{token}", resume_commands(token)


def resume_commands(token: str) -> str:
    """The line that ends `::stop-commands::token`."""
    return f"::{token}::"


def annotation(level: str, message: str, *, title: str | None = None) -> str:
    """An `::error::`, `::warning::` or `::notice::` annotation."""
    if level not in ("error", "warning", "notice"):
        raise ValueError(f"unknown annotation level {level!r}")
    properties = f" title={escape_property(title)}" if title else ""
    return f"::{level}{properties}::{escape_data(message)}"


class Annotations:
    """Annotations of one step: the first MAX_ANNOTATIONS - 1 as they come, then one summary.

    Thread-safe; `close` writes the summary line of what was left out.
    """

    def __init__(
        self,
        write: Callable[[str], None],
        *,
        where: str = "the log and the job summary",
        redact: Callable[[str], str] = str,
    ) -> None:
        self._write, self._where, self._redact = write, where, redact
        self._shown = 0
        self._left_out = 0
        self._lock = threading.Lock()

    def add(self, level: str, message: str, *, title: str | None = None) -> None:
        """Show the annotation while there is room, else count it."""
        with self._lock:
            if self._shown < MAX_ANNOTATIONS - 1:
                self._shown += 1
                # Redacted before escaping: the escaped text would hide a secret from the redactor.
                shown = None if title is None else self._redact(title)
                self._write(annotation(level, self._redact(message), title=shown))
            else:
                self._left_out += 1

    @property
    def left_out(self) -> int:
        """Annotations counted but not shown."""
        return self._left_out

    def close(self) -> None:
        """One last annotation naming how many were left out (if any)."""
        with self._lock:
            if self._left_out:
                noun = "problem" if self._left_out == 1 else "problems"
                self._write(annotation("warning", f"and {self._left_out} more {noun}: see {self._where}"))
                self._left_out = 0
