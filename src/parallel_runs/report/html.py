"""The report as one self-contained HTML file: the dashboard's batch page as a static snapshot
(its counts, runs table and timeline by host, rendered with the dashboard's templates).

Inline CSS only: no script, no external URL of any kind, so it can be opened from an artifact
download or an air-gapped machine and never phones home. The same page is the action's HTML report.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from parallel_runs.report.rows import RunRow

__all__ = ["Bar", "render_html", "timeline_bars"]

_DOT = " \u00b7 "
MIN_BAR_PERCENT = 0.5  # a run of a few milliseconds in a batch of hours still shows


@dataclass(frozen=True, slots=True)
class Bar:
    """Where a run's timeline bar sits, in percent of the batch's whole window."""

    left: float
    width: float


def _window(rows: Sequence[RunRow], now: datetime | None) -> tuple[datetime, datetime, datetime]:
    """The earliest start, the latest end, and where still-running attempts end."""
    origin = min(row.latest.started_at for row in rows)
    latest = max(row.latest.finished_at or row.latest.started_at for row in rows)
    running_end = max(now, latest) if now is not None else latest
    has_running = any(row.latest.finished_at is None for row in rows)
    return origin, running_end if has_running else latest, running_end


def timeline_bars(rows: Sequence[RunRow], *, now: datetime | None = None) -> list[Bar]:
    """One bar per row, relative to the earliest start and latest end; running ones end at `now`.

    Without `now`, a running attempt extends to the latest time any run is known to have reached.
    """
    if not rows:
        return []
    origin, end, running_end = _window(rows, now)
    total = (end - origin).total_seconds()
    bars = []
    for row in rows:
        if total <= 0:
            bars.append(Bar(0.0, 100.0))
            continue
        finish = row.latest.finished_at or running_end
        left = min(
            max((row.latest.started_at - origin).total_seconds() / total * 100, 0.0), 100 - MIN_BAR_PERCENT
        )
        width = max((finish - row.latest.started_at).total_seconds() / total * 100, MIN_BAR_PERCENT)
        bars.append(Bar(round(left, 2), round(min(width, 100 - left), 2)))
    return bars


def render_html(rows: Sequence[RunRow], *, title: str, now: datetime | None = None) -> str:
    """One self-contained HTML page (inline CSS, no script, no URLs) showing every row: a static
    snapshot of the dashboard's batch page, rendered with its templates (`dashboard/templates/`).

    `now` is the generation time and where still-running attempts end; None reads the clock for
    the former and ends running attempts at the latest known time.
    """
    # Imported here: the dashboard's views read report.rows, which this package's __init__ loads.
    from parallel_runs.dashboard.render import inline_css, render  # noqa: PLC0415
    from parallel_runs.dashboard.views import Query, batch_context, snapshot_state  # noqa: PLC0415

    generated = now or datetime.now(UTC)
    known = max((row.latest.finished_at or row.latest.started_at for row in rows), default=generated)
    context = batch_context(
        list(rows), snapshot_state(rows), Query(per_page=max(1, len(rows))), now=now or known
    )
    meta = [f"generated {generated.astimezone(UTC).strftime('%Y-%m-%d %H:%M:%S UTC')}", f"{len(rows)} runs"]
    page = render(
        "report.html", title=title, meta=_DOT.join(meta), css=inline_css(), live_server=False, **context
    )
    return page.rstrip("\n") + "\n"
