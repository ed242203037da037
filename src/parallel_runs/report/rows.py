"""What the report shows, whatever the format: one row per run, counts, and the columns.

Rows are built from the attempts a location holds (`store.open_records`); each
renderer (`table`, `json_format`, `markdown`, `html`) shows `COLUMNS` in its own way.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from parallel_runs.core.durations import format_duration
from parallel_runs.core.model import Attempt, Outcome
from parallel_runs.core.policy import describe_exit_code

__all__ = [
    "COLUMNS",
    "DEFAULT_TITLE",
    "HOST_COLUMN",
    "PULL_COLUMN",
    "SHOWN_FAILURES",
    "STATUS_COLUMN",
    "TESTS_COLUMN",
    "TITLE_COLUMN",
    "Column",
    "RunRow",
    "build_rows",
    "format_title",
    "pull_request_text",
    "summarize",
    "test_failures",
    "tests_problem",
    "tests_summary",
    "visible_columns",
    "web_link",
]

DEFAULT_TITLE = "parallel-runs"
_WEB_LINK = re.compile(r"https?://[A-Za-z0-9._~:/?#@!$&'*+,;=%-]+")


@dataclass(frozen=True, slots=True)
class RunRow:
    """One run as the report shows it: its latest attempt, and how many attempts it had."""

    latest: Attempt
    attempts: int
    title: str | None = None  # its task's title (--tasks)

    def to_json(self) -> dict[str, object]:
        """This row as a JSON-ready dict (ISO-8601 datetimes): the latest attempt (`record_json`) plus
        `attempts` (and `title`, for a run of a task with one)."""
        titled = {"title": self.title} if self.title else {}
        return self.latest.record_json() | {"attempts": self.attempts} | titled


def build_rows(
    records: Iterable[Attempt], *, batch_id: str | None = None, titles: Mapping[str, str] | None = None
) -> list[RunRow]:
    """One row per run from its latest attempt (within `batch_id` if given), sorted by run id; `titles`:
    the runs' task titles by run id (store.run_titles)."""
    titles = titles or {}
    by_run: dict[str, list[Attempt]] = {}
    for record in records:
        if batch_id is None or record.batch_id == batch_id:
            by_run.setdefault(record.run_id, []).append(record)
    return [
        RunRow(
            max(by_run[run_id], key=lambda record: record.attempt), len(by_run[run_id]), titles.get(run_id)
        )
        for run_id in sorted(by_run)
    ]


def summarize(rows: Iterable[RunRow]) -> dict[Outcome, int]:
    """How many runs ended in each status, in the order statuses are declared."""
    seen: dict[Outcome, int] = {}
    for row in rows:
        seen[row.latest.outcome] = seen.get(row.latest.outcome, 0) + 1
    return {status: seen[status] for status in Outcome if status in seen}


def format_title(batch_id: str | None = None) -> str:
    """The report's title: `parallel-runs`, naming the batch when the rows are one batch's."""
    return DEFAULT_TITLE + (f" \u00b7 batch {batch_id}" if batch_id else "")


def tests_summary(row: RunRow) -> str:
    """The tests column: `+2 \N{MINUS SIGN}1 (1 flaky)` (broken, fixed), `0`, `unavailable`, or `-`."""
    return row.latest.tests.summary if row.latest.tests else "-"


def pull_request_text(row: RunRow) -> str:
    """The run's pull request as `#N` ("-" without one)."""
    pull = row.latest.pull_request
    return f"#{pull.number}" if pull else "-"


def web_link(url: str) -> str | None:
    """`url` when it is a plain http(s) address fit to be a link, else None (no `javascript:`, no
    markup): a pull request's address comes from the GitHub API, and a report links it."""
    return url if _WEB_LINK.fullmatch(url) else None


def _or_dash(value: int | None) -> str:
    return "-" if value is None else str(value)


@dataclass(frozen=True, slots=True)
class Column:
    """One column of the report in every format; a renderer only escapes and styles its cells."""

    header: str
    cell: Callable[[RunRow], str]  # the cell's plain text
    numeric: bool = False  # right-aligned
    code: bool = False  # an identifier shown verbatim (folded, monospace, a code span)
    short_header: str | None = None  # the terminal table's header, where it differs

    @property
    def terminal_header(self) -> str:
        """The header of the terminal table."""
        return self.short_header or self.header


# Renderers style these two beyond their text (status colours and emoji; new test failures).
STATUS_COLUMN = Column("status", lambda row: row.latest.outcome.value)
TESTS_COLUMN = Column("tests", tests_summary, numeric=True)
HOST_COLUMN = Column("host", lambda row: row.latest.host, code=True)
TITLE_COLUMN = Column("title", lambda row: row.title or "-")
PULL_COLUMN = Column("pull request", pull_request_text, short_header="PR")
# The report's columns, in order, for the table, markdown and HTML alike: add a column here.
COLUMNS: tuple[Column, ...] = (
    Column("run", lambda row: row.latest.run_id, code=True),
    TITLE_COLUMN,
    STATUS_COLUMN,
    Column("attempts", lambda row: str(row.attempts), numeric=True),
    Column("exit", lambda row: describe_exit_code(row.latest.exit_code), numeric=True),
    Column("duration", lambda row: format_duration(row.latest.duration_seconds), numeric=True),
    Column(
        "changed files", lambda row: _or_dash(row.latest.changed_files), numeric=True, short_header="files"
    ),
    TESTS_COLUMN,
    HOST_COLUMN,
    Column("branch", lambda row: row.latest.branch, code=True),
    PULL_COLUMN,
)


def visible_columns(rows: Iterable[RunRow]) -> list[Column]:
    """The columns to show: tests only when a test command judged some run; the host only when the
    runs ran on more than one (a shared batch worked by several machines); titles only when a run
    has one (--tasks); pull requests only when the action opened one for some run."""
    rows = list(rows)
    hidden = set() if any(row.title for row in rows) else {TITLE_COLUMN.header}
    if not any(row.latest.tests for row in rows):
        hidden.add(TESTS_COLUMN.header)
    if len({row.latest.host for row in rows}) < 2:
        hidden.add(HOST_COLUMN.header)
    if not any(row.latest.pull_request for row in rows):
        hidden.add(PULL_COLUMN.header)
    return [column for column in COLUMNS if column.header not in hidden]


SHOWN_FAILURES = 10  # new test failures shown with their message per run; the rest are collapsed


_PROBLEMS = {
    "tests_crashed": "tests crashed",
    "tests_failed": "tests failed",
    "tests_imported_elsewhere": "tests imported the code under test from elsewhere",
}


def tests_problem(row: RunRow) -> tuple[str, str] | None:
    """What the run's tests said as a whole (crashed, failed by exit status, imported code from
    elsewhere) and why (`?` when the record kept no reason); None when judged test by test."""
    tests = row.latest.tests
    if tests is None or tests.status not in _PROBLEMS:
        return None
    return _PROBLEMS[tests.status], tests.reason or "?"


def test_failures(row: RunRow) -> list[tuple[str, str]]:
    """This run's new failures with their messages (`""` when the record kept none for a test)."""
    tests = row.latest.tests
    if tests is None:
        return []
    messages = dict(tests.messages)
    return [(name, messages.get(name, "")) for name in tests.new_failures]
