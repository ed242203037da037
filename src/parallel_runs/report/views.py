"""What the dashboard shows of a batch, whatever the store: a page of its rows, its state, its hosts
and the timeline by host. Pure: a store's `RunsPage` in, views out.

A query is what the batch page keeps in its URL (`status`, `host`, `q`, `sort`, `order`, `page`,
`per_page`), so a filtered view can be shared; the API takes the same parameters. The store filters,
sorts and pages (`Records.runs_page`): a batch of 10,000 runs is never read whole for a page.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlencode

from parallel_runs.core.batch import BatchSummary
from parallel_runs.core.durations import format_duration
from parallel_runs.core.model import Outcome
from parallel_runs.core.runs_query import SORTS, RunsPage, RunsQuery
from parallel_runs.errors import ConfigError
from parallel_runs.report.rows import RunRow, summarize, tests_summary
from parallel_runs.report.timeline import MAX_BARS, lanes

__all__ = [
    "SORTS",
    "TIMELINE",
    "BatchState",
    "Page",
    "Query",
    "batch_context",
    "batch_state",
    "row_json",
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

    def runs(self) -> RunsQuery:
        """What to ask the store for: this query's filters, sort and page."""
        return RunsQuery(
            statuses=(self.status,) if self.status else (),
            host=self.host,
            text=self.text,
            sort=self.sort,
            descending=self.descending,
            offset=(self.page - 1) * self.per_page,
            limit=self.per_page,
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

    @classmethod
    def of(cls, found: RunsPage, query: Query) -> Page:
        """The page the store found for `query`."""
        return cls(rows=found.rows, matched=found.matched, total=found.total, query=query)

    @property
    def pages(self) -> int:
        """How many pages the matching rows fill (at least one)."""
        return max(1, -(-self.matched // self.query.per_page))


# The timeline by host: the runs that ran (not those stopped before), the latest started first.
TIMELINE = RunsQuery(
    statuses=tuple(o.value for o in Outcome if o not in (Outcome.NOT_STARTED, Outcome.HELD)),
    sort="started",
    descending=True,
    limit=MAX_BARS,
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


def batch_state(summary: BatchSummary, *, worked_on: bool) -> BatchState:
    """The batch's state: refused, queued (nothing started), running, or ended.

    `worked_on`: a process works this batch of a runs dir, whose queue lives in that process (between
    two of its runs, none is running, yet the batch goes on)."""
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
    return BatchState(summary=summary, state=state, hosts=tuple(host for host in summary.hosts if host))


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
    found: RunsPage,
    query: Query,
    state: BatchState,
    *,
    timeline: Sequence[RunRow],
    now: datetime,
    titled: bool = False,
) -> dict[str, object]:
    """What batch.html needs besides the page's own switches (the report's snapshot uses it too):
    `found` is the page the store found for `query`, `timeline` the rows `TIMELINE` found."""
    show_tests = found.tested
    show_host = len(found.hosts) > 1
    show_title = titled  # --tasks: as the report's other formats
    show_pull = found.pulled  # the action opened some
    shown = {"tests": show_tests, "host": show_host, "title": show_title, "pull": show_pull}
    return {
        "columns": [c for c in COLUMNS if shown.get(c[0], True)],
        "show_title": show_title,
        "show_tests": show_tests,
        "show_host": show_host,
        "show_pull": show_pull,
        "state": state,
        "page": Page.of(found, query),
        "query": query,
        "lanes": lanes(timeline, now=now),
        "statuses": STATUSES,
        "hosts": list(found.hosts),
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
        hosts=tuple(sorted({row.latest.host for row in rows})),
    )
    state = "running" if "running" in counts else "ended"
    return BatchState(summary=summary, state=state, hosts=summary.hosts)
