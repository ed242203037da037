"""The report as one self-contained HTML file: the dashboard's batch page as a static snapshot
(its counts, runs table and timeline by host, rendered with the templates both share: `templates/`).

Inline CSS only: no script, no external URL of any kind, so it can be opened from an artifact
download or an air-gapped machine and never phones home. The same page is the action's HTML report.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from parallel_runs.core.runs_query import page_of
from parallel_runs.report.rows import RunRow
from parallel_runs.report.views import Query, batch_context, snapshot_state

__all__ = ["render_html"]

_DOT = " \u00b7 "


def render_html(rows: Sequence[RunRow], *, title: str, now: datetime | None = None) -> str:
    """One self-contained HTML page (inline CSS, no script, no URLs) showing every row: a static
    snapshot of the dashboard's batch page, rendered with its templates (`report/templates/`).

    `now` is the generation time and where still-running attempts end; None reads the clock for
    the former and ends running attempts at the latest known time.
    """
    # Imported here: Jinja2 loads only when a page is rendered, not with every command that reports.
    from parallel_runs.report.templating import inline_css, render_template  # noqa: PLC0415

    generated = now or datetime.now(UTC)
    known = max((row.latest.finished_at or row.latest.started_at for row in rows), default=generated)
    query = Query(per_page=max(1, len(rows)))
    context = batch_context(
        page_of(rows, query.runs()),
        query,
        snapshot_state(rows),
        timeline=rows,
        now=now or known,
        titled=any(row.title for row in rows),
    )
    meta = [f"generated {generated.astimezone(UTC).strftime('%Y-%m-%d %H:%M:%S UTC')}", f"{len(rows)} runs"]
    page = render_template(
        "report.html", title=title, meta=_DOT.join(meta), css=inline_css(), live_server=False, **context
    )
    return page.rstrip("\n") + "\n"
