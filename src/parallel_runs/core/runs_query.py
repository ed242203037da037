"""One page of a batch's runs, filtered and sorted (`Records.runs_page`): what the dashboard's runs
table and API ask a store for, so a batch of 10,000 runs is paged where it is kept.

A run is its latest attempt in the batch. Both stores answer the same way: the shared store in SQL
(`shared_pages.py`), a runs dir and the report's snapshot in memory (`page_of`, here). Ties and
missing values are ordered alike: by run id in the sort's direction, missing values last either way;
the free text matches case-insensitively (`str.lower`, as SQL's `lower`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from parallel_runs.core.model import Outcome

if TYPE_CHECKING:  # the store reads no report at run time: importing the report loads its renderers
    from parallel_runs.report.rows import RunRow

__all__ = ["SORTS", "STATUS_ORDER", "RunsPage", "RunsQuery", "page_of"]

STATUS_ORDER = tuple(outcome.value for outcome in Outcome)  # the status column sorts in this order


@dataclass(frozen=True, slots=True, kw_only=True)
class RunsQuery:
    """Which of a batch's runs, in which order, from where and how many."""

    statuses: tuple[str, ...] = ()  # outcomes' values, any of them; () for any outcome
    host: str = ""
    text: str = ""  # found in the run id, title, branch, host, error, error tail or pull request's URL
    sort: str = "run"  # one of SORTS
    descending: bool = False
    offset: int = 0
    limit: int = 100


@dataclass(frozen=True, slots=True, kw_only=True)
class RunsPage:
    """The page's rows, how many runs matched, and what the batch's table shows besides."""

    rows: list[RunRow]
    matched: int  # runs that match the filters
    total: int  # runs of the batch that started
    hosts: tuple[str, ...]  # the hosts of the batch's runs (their latest attempts), sorted
    tested: bool  # some run was judged by a test command (the table shows its tests column)
    pulled: bool  # some run has a pull request (the table shows its column)


_ORDER = {value: index for index, value in enumerate(STATUS_ORDER)}

# Each sortable column's value of a row (None: missing, sorted last either way).
_KEYS: dict[str, Callable[[RunRow], object]] = {
    "run": lambda row: row.latest.run_id,
    "title": lambda row: row.title,
    "status": lambda row: _ORDER.get(row.latest.outcome.value, len(_ORDER)),
    "attempts": lambda row: row.attempts,
    "exit": lambda row: row.latest.exit_code,
    "duration": lambda row: row.latest.duration_seconds,
    "files": lambda row: row.latest.changed_files,
    "tests": lambda row: len(row.latest.tests.new_failures) if row.latest.tests else None,
    "host": lambda row: row.latest.host,
    "started": lambda row: row.latest.started_at,
    "branch": lambda row: row.latest.branch,
    "pull": lambda row: row.latest.pull_request.number if row.latest.pull_request else None,
}
SORTS = tuple(_KEYS)  # the columns a runs table sorts by


def _matches(row: RunRow, query: RunsQuery, text: str) -> bool:
    latest = row.latest
    if query.statuses and latest.outcome.value not in query.statuses:
        return False
    if query.host and latest.host != query.host:
        return False
    if not text:
        return True
    pull = latest.pull_request.url if latest.pull_request else None
    haystack = (latest.run_id, row.title, latest.branch, latest.host, latest.error, latest.error_tail, pull)
    return any(part and text in part.lower() for part in haystack)


def page_of(rows: Sequence[RunRow], query: RunsQuery) -> RunsPage:
    """The page `query` asks for of `rows` (one per run), in memory."""
    text = query.text.lower()
    chosen = [row for row in rows if _matches(row, query, text)]
    key = _KEYS[query.sort]
    keyed = [(key(row), row.latest.run_id, row) for row in chosen]  # each key once per row
    present = sorted(
        ((value, run_id, row) for value, run_id, row in keyed if value is not None),
        key=lambda item: (item[0], item[1]),
        reverse=query.descending,
    )
    missing = sorted(
        ((run_id, row) for value, run_id, row in keyed if value is None),
        key=lambda item: item[0],
        reverse=query.descending,
    )
    ordered = [row for _, _, row in present] + [row for _, row in missing]
    return RunsPage(
        rows=ordered[query.offset : query.offset + query.limit],
        matched=len(chosen),
        total=len(rows),
        hosts=tuple(sorted({row.latest.host for row in rows})),
        tested=any(row.latest.tests for row in rows),
        pulled=any(row.latest.pull_request for row in rows),
    )
