"""run.log's attempt headers: each attempt's part begins with one line naming it. Pure."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

__all__ = ["LogPart", "format_header", "header_attempt", "log_parts"]

_HEADER = re.compile(rb"^=== parallel-runs: attempt (\d+) \xc2\xb7 started ")


@dataclass(frozen=True, slots=True)
class LogPart:
    """Where one attempt's part of run.log begins (its header line), and where the next one begins."""

    attempt: int | None  # None: output written before headers existed
    start: int
    end: int | None  # None: up to the end of the file, which may still grow


def format_header(attempt: int, started_at: datetime, command: str) -> str:
    """The line that begins an attempt's part of run.log."""
    started = started_at.isoformat()
    return f"=== parallel-runs: attempt {attempt} \u00b7 started {started} \u00b7 {command} ===\n"


def header_attempt(line: bytes) -> int | None:
    """The attempt a run.log line is the header of; None for any other line."""
    match = _HEADER.match(line)
    return int(match.group(1)) if match else None


def log_parts(lines: Iterable[bytes]) -> list[LogPart]:
    """The parts of a log given as its lines (with their line endings), in order."""
    parts: list[LogPart] = []
    offset, start, attempt = 0, 0, None
    for line in lines:
        number = header_attempt(line)
        if number is not None:
            if offset > start or attempt is not None:
                parts.append(LogPart(attempt, start, offset))
            start, attempt = offset, number
        offset += len(line)
    if offset > start or attempt is not None:
        parts.append(LogPart(attempt, start, None))
    return parts
