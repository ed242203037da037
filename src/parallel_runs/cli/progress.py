"""How `run` shows a batch: live (terminal), plain lines (logs), JSON lines (scripts), or quiet."""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path
from typing import IO, Protocol

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from parallel_runs.core.durations import format_duration
from parallel_runs.core.events import Event, EventKind
from parallel_runs.core.model import Outcome
from parallel_runs.core.policy import describe_exit_code

__all__ = ["JsonEvents", "LiveProgress", "PlainProgress", "Progress", "last_line"]

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
_GOOD = frozenset(outcome.value for outcome in Outcome if outcome.is_success)


class Progress(Protocol):
    """Receives every event of a batch; `close` when it is over."""

    def __call__(self, event: Event) -> None: ...

    def close(self) -> None: ...


def last_line(log: Path, *, limit: int = 4096) -> str:
    """The last non-empty line of a run's log, without colour codes (read from its tail only)."""
    try:
        with log.open("rb") as stream:
            stream.seek(max(0, stream.seek(0, 2) - limit))
            tail = stream.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    lines = [_ANSI.sub("", line).strip() for line in tail.replace("\r", "\n").splitlines()]
    return next((line for line in reversed(lines) if line), "")


_TEMPLATES = {
    EventKind.ATTEMPT_STARTED: "started   {run_id} (attempt {attempt})",
    EventKind.RETRY_SCHEDULED: "retry     {run_id}: attempt {after_attempt} failed; next in {delay_seconds}s",
    EventKind.RUN_SKIPPED: "[green]skipped[/]   {run_id}: {reason}",
    EventKind.RUN_HELD: "[yellow]held[/]      {run_id}: {holder}",
    EventKind.RUN_NOT_STARTED: "[yellow]not started[/] {run_id}: batch stopped ({reason})",
    EventKind.RUN_ERROR: "[red]error[/]     {run_id}: {message}",
}


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _batch_started(d: dict[str, object]) -> str:
    runs, skipped = int(str(d["runs"])), int(str(d.get("skipped", 0)))
    runs_text = _count(runs, "run") + (f" ({skipped} skipped)" if skipped else "")
    workers = _count(int(str(d["workers"])), "worker")
    return f"batch {d['batch_id']}: {runs_text}, {workers}, runs dir {d['runs_dir']}"


def _finished(d: dict[str, object]) -> str:
    status = str(d["status"])
    colour = "green" if status in _GOOD else "red"
    took = format_duration(float(str(d["duration_seconds"])))
    code = d["exit_code"]
    exit_code = describe_exit_code(code if isinstance(code, int) else None)
    line = (
        f"[{colour}]{status:<9}[/] {d['run_id']} (attempt {d['attempt']}, exit {exit_code}, {took}, "
        f"{d['changed_files']} file(s) changed) → {d['branch']}"
    )
    reason = [str(d["error"])] if d.get("error") else []
    reason += str(d.get("error_tail") or "").splitlines()
    return "\n".join([line, *(f"[dim]          │ {text}[/]" for text in reason)])


def _stopping(d: dict[str, object]) -> str:
    if d["hard"]:
        return "[red]stopping now[/]: killing every run (their changes are still saved)"
    # Only someone who pressed Ctrl-C (or sent SIGTERM) is told what pressing it again does.
    again = "; Ctrl-C again kills them now" if d["reason"] == "interrupted" else ""
    return (
        f"[yellow]stopping[/] ({d['reason']}): nothing new starts; running runs get SIGTERM, SIGKILL after "
        f"{d['grace_seconds']}s{again}"
    )


def _batch_finished(d: dict[str, object]) -> str:
    counts = d["counts"]
    listed = (
        ", ".join(f"{n} {name}" for name, n in sorted(counts.items())) if isinstance(counts, dict) else ""
    )
    return f"batch {d['batch_id']} finished: {listed or 'no runs'} (exit {d['exit_code']})"


_FORMATTERS = {
    EventKind.BATCH_STARTED: _batch_started,
    EventKind.ATTEMPT_FINISHED: _finished,
    EventKind.STOP_REQUESTED: _stopping,
    EventKind.BATCH_FINISHED: _batch_finished,
}


def describe(event: Event) -> str | None:
    """One human line for an event, or None for events only the live view needs."""
    # Run ids and messages may contain [brackets]: never let them act as rich markup.
    raw = {"run_id": event.run_id or "", **event.data}
    data = {key: escape(value) if isinstance(value, str) else value for key, value in raw.items()}
    if formatter := _FORMATTERS.get(event.kind):
        return formatter(data)
    template = _TEMPLATES.get(event.kind)
    return template.format(**data) if template else None


class PlainProgress:
    """A line per event: for CI logs and pipes. `quiet` keeps only problems and the summary."""

    _QUIET_KINDS = frozenset(
        {EventKind.RUN_ERROR, EventKind.RUN_HELD, EventKind.STOP_REQUESTED, EventKind.BATCH_FINISHED}
    )

    def __init__(self, console: Console, *, quiet: bool = False) -> None:
        self._console, self._quiet, self._lock = console, quiet, threading.Lock()

    def __call__(self, event: Event) -> None:
        if self._quiet and event.kind not in self._QUIET_KINDS:
            return
        if (line := describe(event)) is not None:
            with self._lock:
                self._console.print(line)

    def close(self) -> None:
        """Nothing to tear down."""


class JsonEvents:
    """One JSON object per event on a stream, for scripts."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream, self._lock = stream, threading.Lock()

    def __call__(self, event: Event) -> None:
        line = json.dumps(event.to_json(), default=str)
        with self._lock:
            self._stream.write(line + "\n")
            self._stream.flush()

    def close(self) -> None:
        """Nothing to tear down."""


class LiveProgress:
    """A live view on a terminal: a line per active run, counters, and an ETA."""

    def __init__(self, console: Console) -> None:
        self._console, self._lock = console, threading.Lock()
        self._active: dict[str, tuple[int, float, Path]] = {}  # run -> attempt, start, log
        self._final: dict[str, str] = {}  # run -> outcome, for runs that are done (a retry takes it back)
        self._durations: list[float] = []
        self._total, self._workers = 0, 1
        self._live = Live(console=console, get_renderable=self._render, refresh_per_second=4, transient=True)
        self._live.start()

    def __call__(self, event: Event) -> None:
        with self._lock:
            self._update(event)
        if (line := describe(event)) is not None and event.kind is not EventKind.ATTEMPT_STARTED:
            self._live.console.print(line)

    def _update(self, event: Event) -> None:
        d, run = event.data, event.run_id or ""
        if event.kind is EventKind.BATCH_STARTED:
            self._total, self._workers = int(str(d["runs"])), int(str(d["workers"]))
        elif event.kind is EventKind.ATTEMPT_STARTED:
            self._active[run] = (int(str(d["attempt"])), time.monotonic(), Path(str(d["log"])))
        elif event.kind is EventKind.ATTEMPT_FINISHED:
            self._active.pop(run, None)
            self._durations.append(float(str(d["duration_seconds"])))
        if event.kind is EventKind.RETRY_SCHEDULED:
            self._final.pop(run, None)
        elif event.kind is EventKind.ATTEMPT_FINISHED or event.kind.value.startswith("run_"):
            self._final[run] = str(d.get("status", event.kind.value.removeprefix("run_")))

    def _render(self) -> RenderableType:
        with self._lock:
            active = dict(self._active)
            done = len(self._final)
            tally: dict[str, int] = {}
            for status in self._final.values():
                tally[status] = tally.get(status, 0) + 1
            counts = ", ".join(f"{n} {k}" for k, n in sorted(tally.items()))
            eta = self._eta(done, len(active))
        table = Table(box=None, show_header=True, header_style="bold", expand=False)
        for column in ("run", "attempt", "elapsed", "last output"):
            table.add_column(column, overflow="ellipsis", no_wrap=True)
        now = time.monotonic()
        for run, (attempt, start, log) in sorted(active.items()):
            table.add_row(Text(run), str(attempt), format_duration(now - start), Text(last_line(log)[:100]))
        queued = max(0, self._total - done - len(active))
        summary = Text(
            f"queued {queued} · running {len(active)} · {counts or 'nothing finished yet'} · ETA {eta}"
        )
        return Group(table, summary)

    def _eta(self, done: int, running: int) -> str:
        remaining = self._total - done
        if self._total == 0:  # the batch has not started: nothing is done yet
            return "—"
        if not self._durations or remaining <= 0:
            return "—" if remaining > 0 else "done"
        mean = sum(self._durations) / len(self._durations)
        return format_duration(mean * remaining / max(1, min(self._workers, remaining)))

    def close(self) -> None:
        """Stop the live view (it disappears; the per-run lines stay)."""
        self._live.stop()
