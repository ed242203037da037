"""How `run` shows a batch: plain lines (logs), JSON lines (scripts), or quiet; the live view on a
terminal (`live.py`) prints the same lines above its table."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Protocol

from rich.console import Console
from rich.markup import escape

from parallel_runs.cli.common import silence_stdout
from parallel_runs.core.durations import format_duration
from parallel_runs.core.events import Event, EventKind
from parallel_runs.core.model import Outcome, TestSummary
from parallel_runs.core.policy import describe_exit_code

__all__ = ["JsonEvents", "PlainProgress", "Progress", "describe"]

_GOOD = frozenset(outcome.value for outcome in Outcome if outcome.is_success)


class Progress(Protocol):
    """Receives every event of a batch; `close` when it is over."""

    def __call__(self, event: Event) -> None: ...

    def close(self) -> None: ...


_TEMPLATES = {
    EventKind.BASELINE_STARTED: "baseline  testing the base commit {base_sha:.12}: {command} (log: {log})",
    EventKind.ATTEMPT_STARTED: "started   {run_id} (attempt {attempt})",
    EventKind.RETRY_SCHEDULED: "retry     {run_id}: attempt {after_attempt} failed; next in {delay_seconds}s",
    EventKind.RUN_SKIPPED: "[green]skipped[/]   {run_id}: {reason}",
    EventKind.RUN_HELD: "[yellow]held[/]      {run_id}: {holder}",
    EventKind.RUN_NOT_STARTED: "[yellow]not started[/] {run_id}: batch stopped ({reason})",
    EventKind.RUN_ERROR: "[red]error[/]     {run_id}: {message}",
    EventKind.HALTED: "[yellow]halting[/]: {failed} run(s) did not succeed (--halt-on-failure {limit}): "
    "nothing new starts; running runs finish",
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
    tests = d.get("tests")
    judged = f", tests {escape(TestSummary.from_json(tests).counts)}" if isinstance(tests, dict) else ""
    code = d["exit_code"]
    exit_code = describe_exit_code(code if isinstance(code, int) else None)
    changed = d["changed_files"]  # None: the changes were not saved, or not counted (the error says why)
    files = "" if changed is None else f", {changed} file(s) changed"
    line = (
        f"[{colour}]{status:<9}[/] {d['run_id']} (attempt {d['attempt']}, exit {exit_code}, {took}{files}"
        f"{judged}) → {d['branch']}"
    )
    reason = [str(d["error"])] if d.get("error") else []
    reason += str(d.get("error_tail") or "").splitlines()
    reason += _new_failures(TestSummary.from_json(tests)) if isinstance(tests, dict) else []
    return "\n".join([line, *(f"[dim]          │ {escape(text)}[/]" for text in reason)])


_SHOWN_ON_THE_LINE = 3  # new test failures named under a run's line (the reports list more)


def _new_failures(tests: TestSummary) -> list[str]:
    """`new failure: tests/test_a.py::test_x: AssertionError: ...` for the first few, then how many more."""
    messages = dict(tests.messages)
    shown = [
        f"new failure: {name}" + (f": {messages[name].splitlines()[0]}" if messages.get(name) else "")
        for name in tests.new_failures[:_SHOWN_ON_THE_LINE]
    ]
    more = len(tests.new_failures) - _SHOWN_ON_THE_LINE
    return [*shown, *([f"... and {more} more (parallel-runs report)"] if more > 0 else [])]


def _baseline(d: dict[str, object]) -> str:
    counts = d["counts"] if isinstance(d["counts"], dict) else {}
    failing = int(counts.get("failed", 0)) + int(counts.get("error", 0))
    errors = int(counts.get("collection_error", 0))
    listed = f"{counts.get('passed', 0)} passed, {failing} failing, {counts.get('skipped', 0)} skipped"
    listed += f", {errors} collection error(s)" if errors else ""
    cached = " (cached)" if d.get("reused") else ""
    return f"baseline  {int(counts.get('total', 0)) - errors} tests at the base commit: {listed}{cached}"


def _stopping(d: dict[str, object]) -> str:
    if d.get("shared_batch") and d["reason"] == "interrupted":
        return (
            f"[yellow]stopping this machine only[/]: other workers of batch {d['shared_batch']} go on "
            f"(`parallel-runs cancel --batch {d['shared_batch']}` stops them all); " + _stopping_here(d)
        )
    return _stopping_here(d)


def _stopping_here(d: dict[str, object]) -> str:
    if d["hard"]:
        return "[red]stopping now[/]: killing every run (their changes are still saved)"
    # Only someone who pressed Ctrl-C (or sent SIGTERM) is told what pressing it again does.
    again = "; Ctrl-C again kills them now" if d["reason"] == "interrupted" else ""
    return (
        f"[yellow]stopping[/] ({d['reason']}): nothing new starts; running runs get SIGTERM, SIGKILL after "
        f"{d['grace_seconds']}s{again}"
    )


def _listing(counts: object) -> str:
    return ", ".join(f"{n} {name}" for name, n in sorted(counts.items())) if isinstance(counts, dict) else ""


def _batch_finished(d: dict[str, object]) -> str:
    counts, whole = d["counts"], d.get("whole_batch")
    listed = _listing(counts)
    here = sum(counts.values()) if isinstance(counts, dict) else 0
    # Cancelled (also before this worker started): the rest of the batch was not run elsewhere either.
    cancelled = d.get("stop_reason") == "cancelled"
    if isinstance(whole, dict) and sum(whole.values()) > here:  # other workers ran the rest, or none did
        total = sum(whole.values())
        rest = f"the whole batch: {_listing(whole)}" if cancelled else f"{total - here} on other workers"
        listed = f"{total} runs: {listed or 'none'} here, {rest}"
    said = "[yellow]was cancelled[/] (parallel-runs cancel)" if cancelled else "finished"
    return f"batch {d['batch_id']} {said}: {listed or 'no runs'} (exit {d['exit_code']})"


_FORMATTERS = {
    EventKind.BASELINE_FINISHED: _baseline,
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


@contextmanager
def _closed_pipe_ends_output() -> Iterator[None]:
    """`run --json-events | head`: once the reader is gone the batch goes on, silently, to its own exit
    code (a console's closed pipe is the console's own business: cli/console.py)."""
    try:
        yield
    except BrokenPipeError:
        silence_stdout()


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
        with self._lock, _closed_pipe_ends_output():
            self._stream.write(line + "\n")
            self._stream.flush()

    def close(self) -> None:
        """Nothing to tear down."""
