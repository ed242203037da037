"""`parallel-runs batches`: one line per batch summary (`Records.batches`)."""

from __future__ import annotations

from datetime import UTC, datetime

from parallel_runs.core.batch import BatchSummary

__all__ = ["format_summary"]

_FULL = "%Y-%m-%dT%H:%M:%SZ"


def _utc(moment: datetime, fmt: str) -> str:
    return moment.astimezone(UTC).strftime(fmt)


def format_summary(summary: BatchSummary, *, width: int) -> str:
    """`nightly  2026-05-01T02:00:03Z → 02:41:10Z  200 runs: 198 succeeded, 2 failed` (UTC)."""
    first, last = summary.first, summary.last
    same_day = (
        first is not None and last is not None and first.astimezone(UTC).date() == last.astimezone(UTC).date()
    )
    started = _utc(first, _FULL) if first else "-"
    ended = "-" if last is None else _utc(last, "%H:%M:%SZ" if same_day else _FULL)
    ranked = sorted(summary.counts.items(), key=lambda item: (-item[1], item[0]))
    counted = ", ".join(f"{n} {name}" for name, n in ranked)
    runs = f"{summary.runs} run" + ("" if summary.runs == 1 else "s")
    if summary.refused is not None:
        return f"{summary.batch_id:<{width}}  {started}  refused, {runs} not started: {summary.refused}"
    return f"{summary.batch_id:<{width}}  {started} \u2192 {ended}  {runs}: {counted or 'none yet'}"
