"""Small file helpers shared by the engine and the test gate: atomic JSON documents, appended logs."""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Callable, Mapping
from pathlib import Path

__all__ = ["append_log", "log_size", "tail_lines", "write_json"]

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")  # colour and cursor codes in captured output
_TAIL_BYTES = 8192
_OUR_MARKERS = ("=== parallel-runs: ", "--- parallel-runs: ")  # the lines we put in a run's log


def write_json(path: Path, document: Mapping[str, object]) -> None:
    """Write a JSON file atomically: readers see the old document or the new one, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.partial")
    try:
        partial.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)  # never left behind, taking the space a later write needs
        raise


def append_log(path: Path, text: str) -> None:
    """Append a line of our own to a log the test commands also write to."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as stream:
        stream.write(text)


def log_size(path: Path) -> int:
    """How long a log is now (0 if it does not exist yet): where the next attempt's part starts."""
    try:
        return path.stat().st_size
    except OSError:
        return 0


def tail_lines(
    path: Path,
    *,
    since: int = 0,
    lines: int = 5,
    width: int = 200,
    redact: Callable[[str], str] = str,
) -> str | None:
    """The last non-empty `lines` of a log written after byte `since`, each cut to `width`; None if none.

    `redact` sees each whole line before it is cut, so no part of a secret is left at the cut.
    """
    try:
        with path.open("rb") as stream:
            end = stream.seek(0, 2)
            start = stream.seek(max(since, end - _TAIL_BYTES))
            text = stream.read().decode("utf-8", errors="replace")
    except OSError:
        return None
    if start > since:  # begun inside a line: its start (and part of a secret in it) is not here
        text = text.partition("\n")[2]
    kept = [redact(_ANSI.sub("", line)).rstrip() for line in text.replace("\r", "\n").splitlines()]
    kept = [line for line in kept if not line.startswith(_OUR_MARKERS)]  # headers say nothing of why
    kept = [line if len(line) <= width else line[: width - 1] + "\u2026" for line in kept if line.strip()]
    return "\n".join(kept[-lines:]) or None
