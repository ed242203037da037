"""The report as a GitHub job summary: the markdown report (counts, runs table, new test failures,
errors) with a mermaid `gantt` timeline of the runs after the table, within a size cap.

GitHub refuses a step summary over 1 MiB: the blocks share the room as in the markdown report
(`budget.fit`, each cut one saying how much it left out), and the text is checked in UTF-8 bytes,
so a batch of thousands of runs still renders.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from parallel_runs.core.model import Outcome
from parallel_runs.report.budget import Block
from parallel_runs.report.markdown import render_markdown
from parallel_runs.report.rows import DEFAULT_TITLE, RunRow

__all__ = ["SUMMARY_LIMITS", "SummaryLimits", "render_gantt", "render_summary"]

_MERMAID_TIME = "%Y-%m-%d %H:%M:%S"
_UNEXECUTED = frozenset({Outcome.SKIPPED, Outcome.NOT_STARTED, Outcome.HELD})
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9 ._/+@=()\[\]-]")
# Words that start a statement in a mermaid gantt: a task named so would be read as one.
_KEYWORDS = frozenset(
    {
        *("title", "section", "dateformat", "axisformat", "tickinterval", "excludes", "includes"),
        *("todaymarker", "weekday", "click", "inclusiveenddates", "topaxis", "displaymode"),
        *("acctitle", "accdescr", "gantt"),
    }
)


@dataclass(frozen=True, slots=True, kw_only=True)
class SummaryLimits:
    """How many runs the timeline draws, and the summary's size caps."""

    gantt_tasks: int = 200  # mermaid renders a few hundred bars at most
    max_chars: int = 900_000
    max_bytes: int = 1_000_000  # under GitHub's 1 MiB, with room for what else the job writes


SUMMARY_LIMITS = SummaryLimits()


def _task_name(text: str) -> str:
    name = _UNSAFE_NAME.sub("_", " ".join(text.split()))[:80] or "_"
    return f"run {name}" if name.split()[0].lower() in _KEYWORDS else name


def _executed(rows: Sequence[RunRow]) -> list[RunRow]:
    """Runs whose latest attempt was carried out (skipped or held ones have no span to draw)."""
    return [row for row in rows if row.latest.outcome not in _UNEXECUTED]


def _drawn(rows: Sequence[RunRow], limit: int) -> list[RunRow]:
    """At most `limit` executed runs, those that did not succeed first in line, by host and start."""
    ranked = sorted(_executed(rows), key=lambda row: (row.latest.outcome.is_success, row.latest.started_at))
    return sorted(ranked[:limit], key=lambda row: (row.latest.host, row.latest.started_at))


def _task(row: RunRow, now: datetime) -> str:
    attempt = row.latest
    start = attempt.started_at.replace(microsecond=0)
    end = max(attempt.finished_at or now, start + timedelta(seconds=1)).replace(microsecond=0)
    tag = "done" if attempt.outcome.is_success else "crit"
    tag = "active" if attempt.finished_at is None else tag
    return f"    {_task_name(attempt.run_id)} :{tag}, {start:{_MERMAID_TIME}}, {end:{_MERMAID_TIME}}"


def render_gantt(rows: Sequence[RunRow], *, now: datetime, limit: int = SUMMARY_LIMITS.gantt_tasks) -> str:
    """A mermaid `gantt` block: one bar per run (its latest attempt), a section per host (a leg), in UTC."""
    drawn = _drawn(rows, limit)
    if not drawn:
        return ""
    lines = ["```mermaid", "gantt", "    title Runs over time (UTC)", "    dateFormat YYYY-MM-DD HH:mm:ss"]
    lines.append("    axisFormat %H:%M:%S")
    section = None
    for row in drawn:
        if row.latest.host != section:
            section = row.latest.host
            lines.append(f"    section {_task_name(section or 'unknown host')}")
        lines.append(_task(row, now))
    lines.append("```")
    left_out = len(_executed(rows)) - len(drawn)
    return "\n".join(lines) + (f"\n\n_\u2026 and {left_out} more runs not drawn._" if left_out else "")


def _render(rows: Sequence[RunRow], *, title: str, now: datetime, limits: SummaryLimits, room: int) -> str:
    timeline = None
    if gantt := render_gantt(rows, now=now, limit=limits.gantt_tasks):
        # All or nothing: a timeline cut short would lose its closing fence.
        note = "_The timeline is left out to keep the summary in size._"
        timeline = Block("", [gantt], lambda _n: note)
    return render_markdown(rows, title=title, limit=room, timeline=timeline)


def render_summary(
    rows: Sequence[RunRow],
    *,
    title: str = DEFAULT_TITLE,
    now: datetime,
    limits: SummaryLimits = SUMMARY_LIMITS,
    footer: str = "",
) -> str:
    """The job summary of `rows`, ending with `footer`, in at most `limits.max_bytes` UTF-8 bytes."""
    tail = f"\n{footer}\n" if footer else ""
    room = limits.max_chars - len(tail)
    while True:
        text = _render(rows, title=title, now=now, limits=limits, room=room) + tail
        size = len(text.encode("utf-8"))
        if size <= limits.max_bytes or room < 1_000:
            return text
        room = int(room * limits.max_bytes / size * 0.95)  # emoji and non-ASCII ids take several bytes
