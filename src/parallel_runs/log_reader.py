"""One attempt's part of a run.log: printed once, or followed while the attempt runs."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import BinaryIO

from parallel_runs.core.layout import RunPaths
from parallel_runs.core.runlog import LogPart, header_attempt
from parallel_runs.locks import run_locks

__all__ = ["attempt_is_over", "choose_part", "write_part"]

_CHUNK = 1024 * 1024


def choose_part(parts: list[LogPart], attempt: int | None) -> LogPart | None:
    """Attempt `attempt`'s part (default: the last part); None when the log has none for it."""
    if attempt is None:
        return parts[-1] if parts else None
    return next((part for part in reversed(parts) if part.attempt == attempt), None)


def write_part(
    stream: BinaryIO,
    part: LogPart,
    out: BinaryIO,
    *,
    is_over: Callable[[], bool] = lambda: True,
    poll: float = 0.2,
) -> None:
    """Copy the part to `out` line by line; keep reading as the file grows until `is_over()`.

    Stops at the next attempt's header: a retry that begins meanwhile is another attempt's output.
    """
    stream.seek(part.start)
    pending, position, blanks = b"", part.start, 0
    while True:
        over = is_over()  # asked before reading: what was written before it ended is read too
        while chunk := stream.read(_CHUNK):
            *lines, pending = (pending + chunk).split(b"\n")
            for line in lines:
                if position > part.start and header_attempt(line) is not None:
                    out.write(b"\n" * max(0, blanks - 1))  # the last one separates the parts
                    out.flush()
                    return
                position += len(line) + 1
                if not line:
                    blanks += 1  # held back until a line follows that belongs to this part
                    continue
                out.write(b"\n" * blanks + line + b"\n")
                blanks = 0
            out.flush()
        if over:
            out.write(b"\n" * blanks + pending)
            out.flush()
            return
        time.sleep(poll)


def attempt_is_over(paths: RunPaths, attempt: int | None) -> Callable[[], bool]:
    """For `write_part`: the attempt ended when its result.json is written or the run's locks are free."""
    lease, lock = run_locks(paths)

    def is_over() -> bool:
        if not (lock.is_locked() or lease.is_locked()):
            return True
        try:
            result = json.loads(paths.result_json.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
        number = result.get("attempt") if isinstance(result, dict) else None
        return attempt is not None and isinstance(number, int) and number >= attempt

    return is_over
