"""Frozen domain objects shared by every layer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

__all__ = ["AttemptResult", "Outcome"]


class Outcome(StrEnum):
    """How an attempt ended (DESIGN §5). `running` is the state of an attempt still in progress."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    REGRESSED = "regressed"
    TIMED_OUT = "timed_out"
    CANCELLED = "cancelled"
    ABANDONED = "abandoned"
    SKIPPED = "skipped"
    NOT_STARTED = "not_started"  # the batch was stopped before this run began
    HELD = "held"  # not executed here: another live process holds the run

    @property
    def is_success(self) -> bool:
        """True for outcomes that leave the batch exit code at 0."""
        return self in (Outcome.SUCCEEDED, Outcome.SKIPPED)


@dataclass(frozen=True, slots=True, kw_only=True)
class AttemptResult:
    """What one attempt of one run did; written to result.json and the store."""

    run_id: str
    slug: str
    batch_id: str
    attempt: int
    outcome: Outcome
    exit_code: int | None
    started_at: datetime
    finished_at: datetime
    base_sha: str
    head_sha: str | None
    branch: str
    host: str
    pid: int
    error: str | None = None
    changed_files: int | None = None  # files that differ from the base commit on the run branch
    tests: dict[str, object] | None = None  # the test delta summary when a test command judged the run

    @classmethod
    def unexecuted(
        cls,
        *,
        run_id: str,
        slug: str,
        batch_id: str,
        attempt: int,
        outcome: Outcome,
        base_sha: str,
        branch: str,
        host: str,
        pid: int,
        at: datetime,
        error: str,
    ) -> AttemptResult:
        """An attempt whose command never ran (not started, held elsewhere): no exit, no new commit."""
        return cls(
            run_id=run_id,
            slug=slug,
            batch_id=batch_id,
            attempt=attempt,
            outcome=outcome,
            exit_code=None,
            started_at=at,
            finished_at=at,
            base_sha=base_sha,
            head_sha=None,
            branch=branch,
            host=host,
            pid=pid,
            error=error,
        )

    @property
    def duration_seconds(self) -> float:
        """Wall time of the attempt."""
        return (self.finished_at - self.started_at).total_seconds()

    def to_json(self) -> dict[str, object]:
        """The result.json document."""
        return {
            "run_id": self.run_id,
            "slug": self.slug,
            "batch_id": self.batch_id,
            "attempt": self.attempt,
            "status": self.outcome.value,
            "exit_code": self.exit_code,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat(),
            "duration_seconds": round(self.duration_seconds, 3),
            "base_sha": self.base_sha,
            "head_sha": self.head_sha,
            "branch": self.branch,
            "host": self.host,
            "pid": self.pid,
            "error": self.error,
            "changed_files": self.changed_files,
            "tests": self.tests,
        }
