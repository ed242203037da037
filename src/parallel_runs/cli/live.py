"""The live view of `run` on a terminal: a line per active run, counters and an ETA, under the event
lines. Laid out for the terminal's width: the run id and its status are never cut; the last output
shrinks first, then the attempt and elapsed columns give way."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.cells import cell_len, set_cell_size
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.text import Text

from parallel_runs.cli.progress import describe
from parallel_runs.core.durations import format_duration
from parallel_runs.core.events import Event, EventKind
from parallel_runs.files import last_line

__all__ = ["LiveProgress", "layout_rows"]

_GAP = "  "
_MIN_OUTPUT = 12  # narrower than this, the last output is not worth showing
_HEADERS = ("run", "status", "attempt", "elapsed", "last output")


@dataclass(slots=True)
class _Active:
    attempt: int
    started: float  # monotonic
    log: Path
    commands: int = 0  # process groups started: the run's command, then its test phases

    @property
    def status(self) -> str:
        return "running" if self.commands <= 1 else "testing"


def _widths(table: Sequence[Sequence[str]], total: int) -> list[int]:
    """Column widths (0: left out). Run and status keep their full width whatever `total` is."""
    run, status, attempt, elapsed, output = (max(cell_len(row[i]) for row in table) for i in range(5))
    # The last output shrinks first; then the attempt column goes, then the elapsed one.
    for shown in ([run, status, attempt, elapsed], [run, status, 0, elapsed], [run, status, 0, 0]):
        room = total - sum(width + len(_GAP) for width in shown if width)
        if room >= min(output, _MIN_OUTPUT):
            return [*shown, min(output, room)]
    return [run, status, 0, 0, 0]


def layout_rows(rows: Sequence[Sequence[str]], width: int) -> list[Text]:
    """The table's lines (a header first) for a terminal `width` columns wide."""
    table = [_HEADERS, *rows]
    widths = _widths(table, width)
    lines = []
    for number, row in enumerate(table):
        cells = [
            set_cell_size(cell, size) if index < len(row) - 1 else _cut(cell, size)
            for index, (cell, size) in enumerate(zip(row, widths, strict=True))
            if size
        ]
        lines.append(Text(_GAP.join(cells).rstrip(), style="bold" if number == 0 else ""))
    return lines


def _cut(text: str, size: int) -> str:
    return text if cell_len(text) <= size else set_cell_size(text, size - 1) + "\u2026"


class LiveProgress:
    """A live view on a terminal: a line per active run, counters, and an ETA."""

    def __init__(self, console: Console) -> None:
        self._console, self._lock = console, threading.Lock()
        self._active: dict[str, _Active] = {}
        self._final: dict[str, str] = {}  # run -> outcome, for runs that are done (a retry takes it back)
        self._durations: list[float] = []
        self._total, self._workers = 0, 1
        self._live = Live(console=console, get_renderable=self._render, refresh_per_second=4, transient=True)
        self._live.start()

    def __call__(self, event: Event) -> None:
        with self._lock:
            self._update(event)
        if (line := describe(event)) is not None and event.kind is not EventKind.ATTEMPT_STARTED:
            # Wrapped by rich at word boundaries: a terminal would break paths and branch names mid-word.
            self._live.console.print(line, soft_wrap=False)

    def _update(self, event: Event) -> None:
        d, run = event.data, event.run_id or ""
        if event.kind is EventKind.BATCH_STARTED:
            self._total, self._workers = int(str(d["runs"])), int(str(d["workers"]))
        elif event.kind is EventKind.ATTEMPT_STARTED:
            self._active[run] = _Active(int(str(d["attempt"])), time.monotonic(), Path(str(d["log"])))
        elif event.kind is EventKind.COMMAND_STARTED and run in self._active:
            self._active[run].commands += 1
        elif event.kind is EventKind.ATTEMPT_FINISHED:
            self._active.pop(run, None)
            self._durations.append(float(str(d["duration_seconds"])))
        if event.kind is EventKind.RETRY_SCHEDULED:
            self._final.pop(run, None)
        elif event.kind is EventKind.ATTEMPT_FINISHED or event.kind.value.startswith("run_"):
            self._final[run] = str(d.get("status", event.kind.value.removeprefix("run_")))

    def _render(self) -> RenderableType:
        with self._lock:
            active = {run: (a.attempt, a.started, a.log, a.status) for run, a in self._active.items()}
            done = len(self._final)
            tally: dict[str, int] = {}
            for status in self._final.values():
                tally[status] = tally.get(status, 0) + 1
            counts = ", ".join(f"{n} {k}" for k, n in sorted(tally.items()))
            eta = self._eta(done)
        now = time.monotonic()
        rows = [
            (run, status, str(attempt), format_duration(now - start), last_line(log)[:200])
            for run, (attempt, start, log, status) in sorted(active.items())
        ]
        queued = max(0, self._total - done - len(active))
        summary = Text(
            f"queued {queued} · running {len(active)} · {counts or 'nothing finished yet'} · ETA {eta}"
        )
        return Group(*layout_rows(rows, self._console.width), summary)

    def _eta(self, done: int) -> str:
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
