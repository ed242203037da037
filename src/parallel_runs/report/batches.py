"""`parallel-runs batches`: one line per batch, from the attempts a runs dir recorded."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from parallel_runs.core.batch import BatchSummary
from parallel_runs.core.layout import refusal_path
from parallel_runs.core.model import Attempt
from parallel_runs.report.rows import build_rows, summarize

__all__ = ["format_summary", "refused_batches", "summarize_batches"]

_FULL = "%Y-%m-%dT%H:%M:%SZ"


def summarize_batches(records: Iterable[Attempt]) -> list[BatchSummary]:
    """Each batch's runs counted by the outcome of their latest attempt in it, oldest batch first."""
    by_batch: dict[str, list[Attempt]] = {}
    for record in records:
        by_batch.setdefault(record.batch_id, []).append(record)
    summaries = []
    for batch_id, attempts in by_batch.items():
        counts = {outcome.value: n for outcome, n in summarize(build_rows(attempts)).items()}
        summaries.append(
            BatchSummary(
                batch_id=batch_id,
                counts=counts,
                first=min(a.started_at for a in attempts),
                last=max(a.finished_at or a.started_at for a in attempts),
            )
        )
    return sorted(summaries, key=lambda summary: (summary.first, summary.batch_id))


def refused_batches(runs_dir: Path) -> list[BatchSummary]:
    """The batches refused before any run started here (their baseline could not judge), oldest first."""
    found = []
    records = refusal_path(runs_dir, "-").parent
    for path in sorted(records.glob("*.json")) if records.is_dir() else ():
        try:
            found.append(BatchSummary.refusal(json.loads(path.read_text(encoding="utf-8"))))
        except (OSError, ValueError, KeyError, TypeError):
            continue  # a record cut short: nothing to say about it
    return sorted(found, key=lambda summary: summary.first or datetime.min.replace(tzinfo=UTC))


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
