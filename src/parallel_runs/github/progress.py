"""A batch in an Actions log: each finished run's output in its own `::group::`.

Runs execute side by side and write their output to their own run.log, so a run's group is written
when the run ends, whole and uninterrupted. Inside the group the runner reads no workflow command
(`::stop-commands::`), so nothing a run prints can annotate, mask, or close the group.
"""

from __future__ import annotations

import codecs
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO, Protocol

from parallel_runs.core.durations import format_duration
from parallel_runs.core.events import Event, EventKind
from parallel_runs.core.layout import RunPaths
from parallel_runs.core.runlog import log_parts
from parallel_runs.github.commands import end_group, group, stop_commands
from parallel_runs.log_reader import choose_part

__all__ = ["LOG_LIMIT", "GroupedProgress", "ProgressSink", "run_group_title"]

LOG_LIMIT = 1024 * 1024  # bytes of a run's log shown in its group: the tail (the artifact has it all)
_CHUNK = 64 * 1024


class ProgressSink(Protocol):
    """What GroupedProgress passes every event to: the plain log lines."""

    def __call__(self, event: Event) -> None: ...

    def close(self) -> None: ...


def run_group_title(run_id: str, data: dict[str, object]) -> str:
    """`exp-1 · failed · attempt 2 · exit 1 · 3.2s`."""
    parts = [run_id, str(data.get("status", "?")), f"attempt {data.get('attempt', '?')}"]
    if data.get("exit_code") is not None:
        parts.append(f"exit {data['exit_code']}")
    seconds = data.get("duration_seconds")
    if isinstance(seconds, int | float):
        parts.append(format_duration(float(seconds)))
    return " \u00b7 ".join(parts)


class GroupedProgress:
    """Passes every event to `inner` (the plain log lines) and writes a group per finished attempt."""

    def __init__(
        self, inner: ProgressSink, *, runs_dir: Path, out: IO[str], redact: Callable[[str], str] = str
    ) -> None:
        self._inner, self._runs_dir, self._out, self._redact = inner, runs_dir, out, redact
        self._logs: dict[str, tuple[int, Path, int]] = {}  # run: (attempt, run.log, where its part begins)
        self._lock = threading.Lock()  # one group at a time, and no plain line inside one

    def __call__(self, event: Event) -> None:
        with self._lock:
            self._inner(event)
            if event.kind is EventKind.ATTEMPT_STARTED and event.run_id:
                data = event.data
                attempt, log_from = int(str(data.get("attempt", 0))), int(str(data.get("log_from", 0)))
                self._logs[event.run_id] = (attempt, Path(str(data.get("log", ""))), log_from)
            elif event.kind is EventKind.ATTEMPT_FINISHED and event.run_id:
                self._group(event.run_id, event.data)

    def _part_of(self, run_id: str, data: dict[str, object]) -> tuple[Path, int]:
        """The run.log of the attempt that ended, and where its part begins."""
        attempt = int(str(data.get("attempt", 0)))
        known = self._logs.get(run_id)
        if known is not None and known[0] == attempt:
            return known[1], known[2]
        # It ended before it started (no worktree): look for its header (a rare, whole-file read).
        log = RunPaths(self._runs_dir, str(data.get("slug", ""))).run_log
        try:
            with log.open("rb") as stream:
                part = choose_part(log_parts(stream), attempt)
        except OSError:
            part = None
        return log, part.start if part else 0

    def _line(self, text: str) -> None:
        self._out.write(text + "\n")

    def _group(self, run_id: str, data: dict[str, object]) -> None:
        start, end = stop_commands()
        self._line(group(run_group_title(run_id, data)))
        self._line(start)
        self._copy_log(*self._part_of(run_id, data))
        self._line(end)
        self._line(end_group())
        self._out.flush()

    def _copy_log(self, log: Path, start: int) -> None:
        """The attempt's part of the log from `start`, its last LOG_LIMIT bytes, streamed in chunks."""
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        try:
            with log.open("rb") as stream:
                skipped = max(start, stream.seek(0, 2) - LOG_LIMIT)
                if skipped > start:
                    left_out = f"the first {skipped - start} bytes are left out; run.log has them all"
                    self._line(f"[parallel-runs: {left_out}]")
                stream.seek(skipped)
                if skipped > start:  # begun inside a line: its start (and part of a secret) is not here
                    stream.readline()
                pending = ""  # whole lines are redacted, so a secret split over two chunks is found too
                while chunk := stream.read(_CHUNK):
                    lines, newline, pending = (pending + decoder.decode(chunk)).rpartition("\n")
                    if newline:
                        self._out.write(self._redact(lines + newline))
        except OSError as exc:
            self._line(f"[parallel-runs: no log to show: {exc.strerror or exc}]")
            return
        if last := pending + decoder.decode(b"", final=True):
            self._out.write(self._redact(last) + "\n")

    def close(self) -> None:
        """Close the inner progress."""
        self._inner.close()
