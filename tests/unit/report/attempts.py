"""Attempts for the report tests: a fixed clock, one factory, and run ids that break naive escaping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from parallel_runs.core.model import Attempt, Outcome

T0 = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)


def record(
    run_id: str,
    attempt: int,
    status: Outcome,
    *,
    batch_id: str = "b1",
    seconds: float = 10,
    start: float = 0,
    error: str | None = None,
) -> Attempt:
    """An attempt record starting `start` s after T0; running attempts have no finish time."""
    started = T0 + timedelta(seconds=start)
    finished = None if status is Outcome.RUNNING else started + timedelta(seconds=seconds)
    return Attempt(
        run_id=run_id,
        slug=run_id,
        attempt=attempt,
        batch_id=batch_id,
        outcome=status,
        exit_code=None if finished is None else (0 if status is Outcome.SUCCEEDED else 1),
        started_at=started,
        finished_at=finished,
        base_sha="a" * 40,
        head_sha=None,
        branch=f"parallel-runs/{run_id}",
        host="h",
        pid=1,
        error=error,
    )


NASTY_IDS = ["plain", "pipe|in|id", "<script>alert(1)</script>", "tick`s``", " *emph* [link](x) @octocat "]
