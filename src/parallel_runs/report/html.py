"""The report as one self-contained HTML file: counts, a table of runs, a timeline bar per run.

Inline CSS only: no script, no external URL of any kind, so it can be opened from an artifact
download or an air-gapped machine and never phones home.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape

from parallel_runs.core.model import Outcome
from parallel_runs.report.rows import (
    SHOWN_FAILURES,
    STATUS_COLUMN,
    TESTS_COLUMN,
    Column,
    RunRow,
    summarize,
    test_failures,
    tests_problem,
    visible_columns,
)

__all__ = ["Bar", "render_html", "timeline_bars"]

_DOT = " \u00b7 "
MIN_BAR_PERCENT = 0.5  # a run of a few milliseconds in a batch of hours still shows
COLLAPSED_FAILURES = 200  # at most this many more names (ci/delta.json lists them all)

STATUS_COLOURS: dict[Outcome, str] = {
    Outcome.SUCCEEDED: "#1a7f37",
    Outcome.SKIPPED: "#6e7781",
    Outcome.FAILED: "#cf222e",
    Outcome.REGRESSED: "#8250df",
    Outcome.TIMED_OUT: "#bf8700",
    Outcome.CANCELLED: "#9a6700",
    Outcome.ABANDONED: "#a40e26",
    Outcome.HELD: "#0969da",
    Outcome.RUNNING: "#0550ae",
}

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem;color:#1f2328;background:#fff}
h1{font-size:1.4rem;margin:0 0 .3rem}
.meta{color:#59636e;margin:0 0 1rem}
.counts{list-style:none;padding:0;margin:0 0 1rem;display:flex;flex-wrap:wrap;gap:.5rem}
.counts li{padding:.15rem .6rem;border-radius:1rem;color:#fff;font-weight:600}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:.3rem .6rem;border-bottom:1px solid #d1d9e0;vertical-align:top}
th{background:#f6f8fa}
td.num{text-align:right;font-variant-numeric:tabular-nums}
td.run,td.branch{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;word-break:break-all}
td.status{font-weight:600}
.error{color:#59636e;font-weight:normal;font-size:.85em;white-space:pre-wrap;word-break:break-word}
td.timeline{width:30%;min-width:10rem}
.track{position:relative;height:1rem;background:#f6f8fa;border-radius:3px}
.bar{position:absolute;top:0;bottom:0;border-radius:3px}
.bar.running{opacity:.6}
.empty{color:#59636e;font-style:italic}
details.failures{text-align:left;font-size:.85em;margin-top:.2rem}
details.failures code{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;word-break:break-all}
details.failures ul{margin:.2rem 0;padding-left:1.2rem}
.msg{color:#59636e;white-space:pre-wrap}
"""


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


def _when(moment: datetime | None) -> str:
    if moment is None:
        return "still running"
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _counts(rows: Sequence[RunRow]) -> str:
    items = []
    for status, count in summarize(rows).items():
        colour = STATUS_COLOURS.get(status, "#59636e")
        name = escape(status.value)
        items.append(f'<li class="status-{name}" style="background:{colour}">{name} {count}</li>')
    return f'<ul class="counts">{"".join(items)}</ul>'


def _cell(column: Column, row: RunRow) -> str:
    text = escape(column.cell(row))
    if column is STATUS_COLUMN:
        colour = STATUS_COLOURS.get(row.latest.outcome, "#59636e")
        error = f'<div class="error">{escape(row.latest.error)}</div>' if row.latest.error else ""
        if row.latest.error_tail:
            error += f'<pre class="error">{escape(row.latest.error_tail)}</pre>'

        return f'<td class="status status-{text}" style="color:{colour}">{text}{error}</td>'
    if column is TESTS_COLUMN:
        text += _failures(row)
    return f'<td class="{"num" if column.numeric else column.header}">{text}</td>'  # td.run, td.branch


def _failures(row: RunRow) -> str:
    """Why a run's tests crashed, or its new failures (first ones with their message), collapsible."""
    if (problem := tests_problem(row)) is not None:
        return f'<div class="error">{problem[0]}: {escape(problem[1])}</div>'
    failures = test_failures(row)
    if not failures:
        return ""
    items = "".join(
        f"<li><code>{escape(name)}</code>"
        + (f'<div class="msg">{escape(message.splitlines()[0])}</div>' if message else "")
        + "</li>"
        for name, message in failures[:SHOWN_FAILURES]
    )
    rest = failures[SHOWN_FAILURES:]
    more = ""
    if rest:
        names = "".join(f"<li><code>{escape(name)}</code></li>" for name, _ in rest[:COLLAPSED_FAILURES])
        if len(rest) > COLLAPSED_FAILURES:
            names += f"<li>\u2026 and {len(rest) - COLLAPSED_FAILURES} more: the run's ci/delta.json</li>"
        more = f"<details><summary>and {len(rest)} more</summary><ul>{names}</ul></details>"
    noun = "failure" if len(failures) == 1 else "failures"
    return (
        f'<details class="failures" open><summary>{len(failures)} new test {noun}</summary>'
        f"<ul>{items}</ul>{more}</details>"
    )


def _timeline(row: RunRow, bar: Bar) -> str:
    status = escape(row.latest.outcome.value)
    colour = STATUS_COLOURS.get(row.latest.outcome, "#59636e")
    running = " running" if row.latest.finished_at is None else ""
    span = escape(
        f"{row.latest.run_id}: {_when(row.latest.started_at)} \u2192 {_when(row.latest.finished_at)}"
    )
    return (
        f'<td class="timeline"><div class="track"><div class="bar status-{status}{running}" '
        f'style="left:{bar.left:.2f}%;width:{bar.width:.2f}%;background:{colour}" title="{span}"></div>'
        "</div></td>"
    )


def _row(row: RunRow, bar: Bar, columns: Sequence[Column]) -> str:
    cells = "".join(_cell(column, row) for column in columns) + _timeline(row, bar)
    return f'<tr data-run-id="{escape(row.latest.run_id)}">{cells}</tr>'


def _table(rows: Sequence[RunRow], now: datetime | None) -> str:
    columns = visible_columns(rows)
    head = "".join(f"<th>{column.header}</th>" for column in columns) + "<th>timeline</th>"
    bars = timeline_bars(rows, now=now)
    body = "\n".join(_row(row, bar, columns) for row, bar in zip(rows, bars, strict=True))
    return f'<table class="runs">\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>'


def _meta(rows: Sequence[RunRow], generated: datetime) -> str:
    parts = [f"generated {_when(generated)}", f"{len(rows)} run{'' if len(rows) == 1 else 's'}"]
    batches = sorted({row.latest.batch_id for row in rows})
    if batches:
        parts.append(("batch " if len(batches) == 1 else "batches ") + ", ".join(batches))
    if rows:
        parts.append(f"first start {_when(min(row.latest.started_at for row in rows))}")
    return f'<p class="meta">{escape(_DOT.join(parts))}</p>'


def render_html(rows: Sequence[RunRow], *, title: str, now: datetime | None = None) -> str:
    """One self-contained HTML page (inline CSS, no script, no URLs) showing every row.

    `now` is the generation time and where still-running attempts end; None reads the clock for
    the former and ends running attempts at the latest known time.
    """
    generated = now or datetime.now(UTC)
    content = _table(rows, now) if rows else '<p class="empty">No runs found.</p>'
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        f"<h1>{escape(title)}</h1>\n{_meta(rows, generated)}\n{_counts(rows)}\n{content}\n"
        "</body>\n</html>\n"
    )
