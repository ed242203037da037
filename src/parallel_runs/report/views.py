"""What the dashboard shows of a batch, whatever the store: rows filtered, sorted and paged, its
state, its hosts and the timeline by host. Pure: rows in, views out.

A query is what the batch page keeps in its URL (`status`, `host`, `q`, `sort`, `order`, `page`,
`per_page`), so a filtered view can be shared; the API takes the same parameters.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlencode

from parallel_runs.core.batch import BatchSummary
from parallel_runs.core.durations import format_duration
from parallel_runs.core.model import Outcome
from parallel_runs.errors import ConfigError
from parallel_runs.report.rows import RunRow, summarize, tests_summary
from parallel_runs.report.timeline import lanes

__all__ = [
    "SORTS",
    "BatchState",
    "Page",
    "Query",
    "batch_context",
    "batch_state",
    "row_json",
    "select",
    "snapshot_state",
]

DEFAULT_PER_PAGE = 100
MAX_PER_PAGE = 1000
MAX_TEXT = 200  # a free-text filter longer than this is cut (it is a filter, not a document)
LIVE = ("queued", "running")


@dataclass(frozen=True, slots=True, kw_only=True)
class Query:
    """Which of a batch's runs to show, in which order, and which page of them."""

    status: str = ""
    host: str = ""
    text: str = ""
    sort: str = "run"
    descending: bool = False
    page: int = 1
    per_page: int = DEFAULT_PER_PAGE

    @classmethod
    def parse(cls, params: Mapping[str, str]) -> Query:
        """From query parameters; ConfigError (HTTP 400) naming the bad one."""
        sort = params.get("sort") or "run"
        if sort not in SORTS:
            raise ConfigError(f"sort={sort!r} is not one of: {', '.join(SORTS)}")
        order = params.get("order") or "asc"
        if order not in ("asc", "desc"):
            raise ConfigError(f"order={order!r} is not one of: asc, desc")
        return cls(
            status=params.get("status", "").strip(),
            host=params.get("host", "").strip(),
            text=params.get("q", "").strip()[:MAX_TEXT],
            sort=sort,
            descending=order == "desc",
            page=_number(params, "page", 1, upper=10**9),
            per_page=_number(params, "per_page", DEFAULT_PER_PAGE, upper=MAX_PER_PAGE),
        )

    def params(self, **changes: object) -> dict[str, str]:
        """This query as URL parameters (defaults left out), with `changes` applied."""
        values: dict[str, object] = {
            "status": self.status,
            "host": self.host,
            "q": self.text,
            "sort": "" if self.sort == "run" else self.sort,
            "order": "desc" if self.descending else "",
            "page": "" if self.page == 1 else self.page,
            "per_page": "" if self.per_page == DEFAULT_PER_PAGE else self.per_page,
        } | changes
        return {key: str(value) for key, value in values.items() if value not in ("", None)}


def _number(params: Mapping[str, str], name: str, default: int, *, upper: int) -> int:
    text = params.get(name) or str(default)
    if not text.isdigit() or not 1 <= int(text) <= upper:
        raise ConfigError(f"{name}={text[:40]!r} is not a number from 1 to {upper}")
    return int(text)


@dataclass(frozen=True, slots=True, kw_only=True)
class Page:
    """One page of a batch's rows, and how many rows matched the filters."""

    rows: list[RunRow]
    matched: int
    total: int
    query: Query

    @property
    def pages(self) -> int:
        """How many pages the matching rows fill (at least one)."""
        return max(1, -(-self.matched // self.query.per_page))


def _matches(row: RunRow, query: Query, text: str) -> bool:
    latest = row.latest
    if query.status and latest.outcome.value != query.status:
        return False
    if query.host and latest.host != query.host:
        return False
    if not text:
        return True
    haystack = (
        latest.run_id,
        row.title or "",
        latest.branch,
        latest.host,
        latest.error or "",
        latest.error_tail or "",
        latest.pull_request.url if latest.pull_request else "",
    )
    return any(text in part.casefold() for part in haystack)


_ORDER = {outcome: index for index, outcome in enumerate(Outcome)}


# Each sortable column's value of a row (None: missing, sorted last either way).
_KEYS: dict[str, Callable[[RunRow], object]] = {
    "run": lambda row: row.latest.run_id,
    "title": lambda row: row.title,
    "status": lambda row: _ORDER.get(row.latest.outcome, len(_ORDER)),
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


def select(rows: Sequence[RunRow], query: Query) -> Page:
    """The rows that match the query's filters, sorted, then the page asked for (server-side paging)."""
    text = query.text.casefold()
    chosen = [row for row in rows if _matches(row, query, text)]
    key = _KEYS[query.sort]
    keyed = [(key(row), row) for row in chosen]  # once per row
    present = [(value, row) for value, row in keyed if value is not None]
    present.sort(key=lambda pair: (pair[0], pair[1].latest.run_id), reverse=query.descending)
    ordered = [row for _, row in present] + [row for value, row in keyed if value is None]
    start = (query.page - 1) * query.per_page
    return Page(
        rows=ordered[start : start + query.per_page], matched=len(chosen), total=len(rows), query=query
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class BatchState:
    """A batch at a glance: its counts, state, hosts, and whether its page still updates."""

    summary: BatchSummary
    state: str  # queued | running | ended | refused
    hosts: tuple[str, ...]

    @property
    def live(self) -> bool:
        """True while the batch can still change: its pages poll until it ends."""
        return self.state in LIVE

    @property
    def done(self) -> int:
        """Runs whose latest attempt ended."""
        return sum(count for outcome, count in self.summary.counts.items() if outcome not in LIVE)

    def to_json(self) -> dict[str, object]:
        """The batch as the API gives it: the summary, its state and hosts, and a change token."""
        return self.summary.to_json() | {
            "state": self.state,
            "hosts": list(self.hosts),
            "done": self.done,
            "live": self.live,
            "version": self.version,
        }

    @property
    def version(self) -> str:
        """Changes whenever a run's outcome or the batch's last time changes: pages refresh on it."""
        counts = ",".join(f"{key}={value}" for key, value in sorted(self.summary.counts.items()))
        last = self.summary.last.isoformat() if self.summary.last else ""
        return f"{counts};{last};{self.state}"


def batch_state(summary: BatchSummary, rows: Sequence[RunRow], *, worked_on: bool) -> BatchState:
    """The batch's state: refused, queued (nothing started), running, or ended.

    `worked_on`: a process works this batch of a runs dir, whose queue lives in that process (between
    two of its runs, none is running, yet the batch goes on)."""
    hosts = tuple(sorted({row.latest.host for row in rows if row.latest.host}))
    counts = summary.counts
    if summary.refused is not None:
        state = "refused"
    elif counts.get("running"):
        state = "running"
    elif counts.get("queued"):
        state = "running" if summary.runs > counts["queued"] else "queued"
    elif worked_on:
        state = "running"
    else:
        state = "ended"
    return BatchState(summary=summary, state=state, hosts=hosts)


def row_json(row: RunRow) -> dict[str, object]:
    """A runs-table row as the API gives it: the latest attempt, `attempts`, and display texts."""
    return row.to_json() | {
        "duration": format_duration(row.latest.duration_seconds),
        "tests_summary": tests_summary(row),
    }


# The runs table's columns (sortable by the first, the sort key) in the report's order.
COLUMNS = (
    ("run", "run"),
    ("title", "title"),
    ("status", "status"),
    ("attempts", "attempts"),
    ("exit", "exit"),
    ("duration", "duration"),
    ("files", "changed files"),
    ("tests", "tests"),
    ("host", "host"),
    ("started", "started"),
    ("branch", "branch"),
    ("pull", "pull request"),
)
STATUSES = (*LIVE[1:], *(o.value for o in Outcome if o is not Outcome.RUNNING))  # the status filter


def batch_context(
    view_rows: list[RunRow], state: BatchState, query: Query, *, now: datetime
) -> dict[str, object]:
    """What batch.html needs besides the page's own switches (the report's snapshot uses it too)."""
    page = select(view_rows, query)
    show_tests = any(row.latest.tests for row in view_rows)
    show_host = len({row.latest.host for row in view_rows}) > 1
    show_title = any(row.title for row in view_rows)  # --tasks: as the report's other formats
    show_pull = any(row.latest.pull_request for row in view_rows)  # the action opened some
    shown = {"tests": show_tests, "host": show_host, "title": show_title, "pull": show_pull}
    return {
        "columns": [c for c in COLUMNS if shown.get(c[0], True)],
        "show_title": show_title,
        "show_tests": show_tests,
        "show_host": show_host,
        "show_pull": show_pull,
        "state": state,
        "page": page,
        "query": query,
        "lanes": lanes(view_rows, now=now),
        "statuses": STATUSES,
        "hosts": sorted({row.latest.host for row in view_rows}),
        "link": lambda **changes: "?" + urlencode(query.params(**changes)),
        "now": now,
    }


def snapshot_state(rows: Sequence[RunRow]) -> BatchState:
    """What a batch page shows above its table, for rows read once (the report's static snapshot)."""
    counts = {outcome.value: count for outcome, count in summarize(rows).items()}
    batches = sorted({row.latest.batch_id for row in rows})
    summary = BatchSummary(
        batch_id=batches[0] if len(batches) == 1 else f"{len(batches)} batches",
        counts=counts,
        first=min((row.latest.started_at for row in rows), default=None),
        last=max((row.latest.finished_at or row.latest.started_at for row in rows), default=None),
    )
    hosts = tuple(sorted({row.latest.host for row in rows}))
    return BatchState(summary=summary, state="running" if "running" in counts else "ended", hosts=hosts)
