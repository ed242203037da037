"""Small file helpers shared by the engine and the test gate: atomic JSON documents, appended logs."""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Callable, Mapping
from pathlib import Path

__all__ = [
    "ANSI",
    "append_log",
    "last_line",
    "log_size",
    "read_tail",
    "tail_lines",
    "write_atomically",
    "write_json",
]

ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")  # colour and cursor codes in captured output
_TAIL_BYTES = 8192
_OUR_MARKERS = ("=== parallel-runs: ", "--- parallel-runs: ")  # the lines we put in a run's log


def write_atomically(path: Path, data: bytes) -> None:
    """Write a file atomically: readers (other threads and processes too) see the old content or the
    new, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.partial")
    try:
        partial.write_bytes(data)
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)  # never left behind, taking the space a later write needs
        raise


def write_json(path: Path, document: Mapping[str, object]) -> None:
    """Write a JSON file atomically (`write_atomically`)."""
    write_atomically(path, (json.dumps(document, indent=2) + "\n").encode("utf-8"))


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


def read_tail(path: Path, *, limit: int, since: int = 0) -> tuple[str, bool] | None:
    """A log's text after byte `since`, at most its last `limit` bytes; None if it cannot be read.

    The flag says whether the text begins inside that part (so its first line may be cut).
    """
    try:
        with path.open("rb") as stream:
            start = stream.seek(max(since, stream.seek(0, 2) - limit))
            return stream.read().decode("utf-8", errors="replace"), start > since
    except OSError:
        return None


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
    tail = read_tail(path, limit=_TAIL_BYTES, since=since)
    if tail is None:
        return None
    text, cut = tail
    if cut:  # begun inside a line: its start (and part of a secret in it) is not here
        text = text.partition("\n")[2]
    kept = [redact(ANSI.sub("", line)).rstrip() for line in text.replace("\r", "\n").splitlines()]
    kept = [line for line in kept if not line.startswith(_OUR_MARKERS)]  # headers say nothing of why
    kept = [line if len(line) <= width else line[: width - 1] + "\u2026" for line in kept if line.strip()]
    return "\n".join(kept[-lines:]) or None


def last_line(log: Path, *, limit: int = 4096) -> str:
    """The last non-empty line of a run's log, without colour codes (read from its tail only)."""
    tail = read_tail(log, limit=limit)
    if tail is None:
        return ""
    lines = [ANSI.sub("", line).strip() for line in tail[0].replace("\r", "\n").splitlines()]
    return next((line for line in reversed(lines) if line), "")
