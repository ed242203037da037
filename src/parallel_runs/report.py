"""One table of runs from every per-run store under a runs dir: rows, counts, table, JSON, markdown.

HTML lives in `report_html`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.table import Table
from rich.text import Text

from parallel_runs.core import durations
from parallel_runs.core.model import Outcome
from parallel_runs.errors import StoreError
from parallel_runs.store import AttemptRecord, RunStore

__all__ = [
    "STATUS_EMOJI",
    "RunRow",
    "build_rows",
    "collect_runs",
    "format_duration",
    "new_test_failures",
    "render_json",
    "render_table",
    "summarize",
    "tests_summary",
]

log = logging.getLogger(__name__)

STATUS_STYLES: dict[Outcome, str] = {
    Outcome.SUCCEEDED: "green",
    Outcome.SKIPPED: "dim green",
    Outcome.FAILED: "bold red",
    Outcome.REGRESSED: "magenta",
    Outcome.TIMED_OUT: "yellow",
    Outcome.CANCELLED: "yellow",
    Outcome.ABANDONED: "red",
    Outcome.HELD: "cyan",
    Outcome.RUNNING: "blue",
}

STATUS_EMOJI: dict[Outcome, str] = {
    Outcome.SUCCEEDED: "\u2705",  # white heavy check mark
    Outcome.SKIPPED: "\u23ed\ufe0f",  # next track
    Outcome.FAILED: "\u274c",  # cross mark
    Outcome.REGRESSED: "\U0001f4c9",  # chart decreasing
    Outcome.TIMED_OUT: "\u23f1\ufe0f",  # stopwatch
    Outcome.CANCELLED: "\U0001f6ab",  # no entry sign
    Outcome.ABANDONED: "\U0001f47b",  # ghost
    Outcome.HELD: "\U0001f512",  # lock
    Outcome.RUNNING: "\u23f3",  # hourglass
}


@dataclass(frozen=True, slots=True, kw_only=True)
class RunRow:
    """One run as the report shows it: its latest attempt, and how many attempts it had."""

    run_id: str
    slug: str
    batch_id: str
    status: Outcome
    attempts: int
    exit_code: int | None
    started_at: datetime
    finished_at: datetime | None
    duration_seconds: float | None
    branch: str
    head_sha: str | None
    error: str | None
    changed_files: int | None = None
    tests: dict[str, Any] | None = None  # test delta summary: status, summary, new_failures, ...

    def to_json(self) -> dict[str, object]:
        """This row as a JSON-ready dict (ISO-8601 datetimes)."""
        return {
            "run_id": self.run_id,
            "slug": self.slug,
            "batch_id": self.batch_id,
            "status": self.status.value,
            "attempts": self.attempts,
            "exit_code": self.exit_code,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "duration_seconds": None if self.duration_seconds is None else round(self.duration_seconds, 3),
            "branch": self.branch,
            "head_sha": self.head_sha,
            "error": self.error,
            "changed_files": self.changed_files,
            "tests": self.tests,
        }


def build_rows(records: Iterable[AttemptRecord], *, batch_id: str | None = None) -> list[RunRow]:
    """One row per run from its latest attempt (within `batch_id` if given), sorted by run id."""
    by_run: dict[str, list[AttemptRecord]] = {}
    for record in records:
        if batch_id is None or record.batch_id == batch_id:
            by_run.setdefault(record.run_id, []).append(record)
    rows = []
    for run_id in sorted(by_run):
        attempts = by_run[run_id]
        latest = max(attempts, key=lambda record: record.attempt)
        rows.append(
            RunRow(
                run_id=run_id,
                slug=latest.slug,
                batch_id=latest.batch_id,
                status=latest.status,
                attempts=len(attempts),
                exit_code=latest.exit_code,
                started_at=latest.started_at,
                finished_at=latest.finished_at,
                duration_seconds=latest.duration_seconds,
                branch=latest.branch,
                head_sha=latest.head_sha,
                error=latest.error,
                changed_files=latest.changed_files,
                tests=latest.tests,
            )
        )
    return rows


def _store_paths(runs_dir: Path) -> list[Path]:
    # Only <runs_dir>/<slug>/<slug>.db: worktrees, locks and leases never hold a store.
    try:
        children = list(runs_dir.iterdir())
    except OSError as exc:
        log.warning("cannot list runs dir %s: %s", runs_dir, exc)
        return []
    return sorted(
        child / f"{child.name}.db"
        for child in children
        if not child.name.startswith(".") and (child / f"{child.name}.db").is_file()
    )


def collect_runs(runs_dir: Path, *, batch_id: str | None = None) -> list[RunRow]:
    """Rows for every run recorded under `runs_dir`; unreadable stores are logged and skipped."""
    records: list[AttemptRecord] = []
    for path in _store_paths(runs_dir):
        try:
            with RunStore.open(path, create=False) as store:
                records.extend(store.attempts())
        except (StoreError, ValueError) as exc:  # ValueError: a status this version does not know
            log.warning("skipping unreadable store %s: %s", path, exc)
    return build_rows(records, batch_id=batch_id)


def summarize(rows: Iterable[RunRow]) -> dict[str, int]:
    """How many runs ended in each status, in the order statuses are declared."""
    seen: dict[Outcome, int] = {}
    for row in rows:
        seen[row.status] = seen.get(row.status, 0) + 1
    return {status.value: seen[status] for status in Outcome if status in seen}


def format_duration(seconds: float | None) -> str:
    """A short human duration (`4.2s`, `3m05s`, `1h02m`, as everywhere else); `-` when unknown."""
    return "-" if seconds is None else durations.format_duration(seconds)


def _caption(rows: Sequence[RunRow]) -> str:
    counts = summarize(rows)
    noun = "run" if len(rows) == 1 else "runs"
    detail = ", ".join(f"{count} {status}" for status, count in counts.items())
    return f"{len(rows)} {noun}" + (f": {detail}" if detail else "")


def render_table(rows: Sequence[RunRow]) -> Table:
    """A rich Table of the rows (the caller owns the Console that prints it)."""
    table = Table(title="parallel-runs", caption=_caption(rows))
    table.add_column("run", overflow="fold")
    table.add_column("status")
    table.add_column("attempts", justify="right")
    table.add_column("exit", justify="right")
    table.add_column("duration", justify="right")
    table.add_column("files", justify="right")
    with_tests = any(row.tests for row in rows)
    if with_tests:
        table.add_column("tests", justify="right")
    table.add_column("branch", overflow="fold")
    for row in rows:
        cells: list[Text | str] = [
            Text(row.run_id),  # Text, not str: run ids may contain [markup]
            Text(row.status.value, style=STATUS_STYLES.get(row.status, "")),
            str(row.attempts),
            "-" if row.exit_code is None else str(row.exit_code),
            format_duration(row.duration_seconds),
            "-" if row.changed_files is None else str(row.changed_files),
        ]
        if with_tests:
            cells.append(tests_summary(row))
        table.add_row(*cells, Text(row.branch))
    return table


def tests_summary(row: RunRow) -> str:
    """The tests column: `+2 \N{MINUS SIGN}1 (1 flaky)` (broken, fixed), `0`, `unavailable`, or `-`."""
    return str(row.tests.get("summary", "-")) if row.tests else "-"


def new_test_failures(row: RunRow) -> list[str]:
    """Test ids this run broke (persistent new failures and new collection errors)."""
    failures = row.tests.get("new_failures") if row.tests else None
    return [str(f) for f in failures] if isinstance(failures, list) else []


def render_json(rows: Sequence[RunRow]) -> str:
    """Stable JSON: `{"runs": [...], "counts": {status: n}}`."""
    document = {"runs": [row.to_json() for row in rows], "counts": summarize(rows)}
    return json.dumps(document, indent=2, ensure_ascii=False)
