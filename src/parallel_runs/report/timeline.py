"""The timeline of a batch by host, the successor of the report's gantt: each host a lane, each run a
bar over the batch's window, runs side by side on a host on tracks of their own. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from parallel_runs.core.durations import format_duration
from parallel_runs.core.model import Outcome
from parallel_runs.report.rows import RunRow

__all__ = ["Bar", "Lane", "lanes"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Bar:
    """One run's bar in its host's lane, in percent of the batch's window."""

    run_id: str
    status: str
    left: float
    width: float
    title: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Lane:
    """One host's runs on the timeline (the report's gantt, by host)."""

    host: str
    slots: list[list[Bar]]  # runs side by side on the host, one track each, no two bars overlapping


MAX_BARS = 2000  # beyond this a lane shows its latest bars only (the table pages the rest)
MAX_SLOTS = 32  # tracks per host at most; more runs at once share the last one


def _pack(bars: list[Bar]) -> list[list[Bar]]:
    """Each bar (by start) on the first track that is free by then."""
    slots: list[list[Bar]] = []
    for bar in bars:
        free = next((slot for slot in slots if slot[-1].left + slot[-1].width <= bar.left), None)
        if free is None and len(slots) < MAX_SLOTS:
            slots.append(free := [])
        (free if free is not None else slots[-1]).append(bar)
    return slots


def lanes(rows: Sequence[RunRow], *, now: datetime) -> list[Lane]:
    """Each host's runs as bars over the batch's window; running ones end at `now`."""
    started = [row for row in rows if row.latest.outcome not in (Outcome.NOT_STARTED, Outcome.HELD)]
    if not started:
        return []
    origin = min(row.latest.started_at for row in started)
    end = max(row.latest.finished_at or now for row in started)
    total = max((end - origin).total_seconds(), 1e-3)
    by_host: dict[str, list[Bar]] = {}
    for row in sorted(started, key=lambda row: row.latest.started_at)[-MAX_BARS:]:
        latest = row.latest
        finish = latest.finished_at or now
        left = min(max((latest.started_at - origin).total_seconds() / total * 100, 0.0), 99.5)
        width = min(max((finish - latest.started_at).total_seconds() / total * 100, 0.5), 100 - left)
        title = f"{latest.run_id}: {latest.outcome.value}, {format_duration(latest.duration_seconds)}"
        bar = Bar(
            run_id=latest.run_id,
            status=latest.outcome.value,
            left=round(left, 2),
            width=round(width, 2),
            title=title,
        )
        by_host.setdefault(latest.host or "?", []).append(bar)
    return [Lane(host=host, slots=_pack(bars)) for host, bars in sorted(by_host.items())]
