"""An in-memory store: the engine's scenarios run against it in tests, in milliseconds.

It keeps attempts in dicts and fences like the shared store does: `take_over` moves a run's
fencing token on, as another worker's takeover would, and every later write under the old
claim is refused with LeaseLostError.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from parallel_runs.core.layout import branch_name
from parallel_runs.core.model import Attempt, Outcome, PullRequest
from parallel_runs.errors import LeaseLostError
from parallel_runs.store.local_queue import LocalQueue
from parallel_runs.store.protocol import AttemptHistory, Claim, unexecuted_attempt

__all__ = ["MemoryStore"]


class MemoryStore(LocalQueue):
    """Attempts in memory; `shares_queue` makes it behave like a queue other workers share."""

    def __init__(self, *, shares_queue: bool = False) -> None:
        super().__init__()
        self.shares_queue = shares_queue
        self.records: dict[str, dict[int, Attempt]] = {}  # run id -> attempt number -> attempt
        self.skipped: dict[str, str] = {}  # run id -> reason
        self._current_token: dict[str, int] = {}
        self.cancelled: set[str] = set()
        self._records_lock = threading.Lock()

    # --- fencing -----------------------------------------------------------------------------

    def _on_claim(self, claim: Claim) -> None:
        with self._records_lock:
            self._current_token[claim.run_id] = claim.fencing_token

    def is_cancelled(self, batch_id: str) -> bool:
        """True once `cancel` was called for the batch."""
        return batch_id in self.cancelled

    def take_over(self, run_id: str) -> None:
        """Move the run's fencing token on, as another worker taking the run over would."""
        with self._records_lock:
            self._current_token[run_id] = self._current_token.get(run_id, 0) + 1_000_000

    def _fence(self, claim: Claim, doing: str) -> None:
        if self._current_token.get(claim.run_id) != claim.fencing_token:
            raise LeaseLostError(
                f"run {claim.run_id!r}: cannot {doing} with fencing token {claim.fencing_token}: "
                "the lease has moved on"
            )

    def heartbeat(self, claim: Claim) -> Claim:
        """Renew the lease unless it was taken over."""
        with self._records_lock:
            self._fence(claim, "renew its lease")
        return super().heartbeat(claim)

    def retry(self, claim: Claim) -> Claim | None:
        """The same run again under a new token."""
        with self._records_lock:
            self._fence(claim, "retry")
            token = self._current_token[claim.run_id] = claim.fencing_token + 1
        return replace(claim, attempt=0, fencing_token=token)

    # --- records -----------------------------------------------------------------------------

    def _attempts(self, run_id: str) -> list[Attempt]:
        with self._records_lock:
            return [self.records.get(run_id, {})[n] for n in sorted(self.records.get(run_id, {}))]

    def previous_attempt(self, claim: Claim) -> Attempt | None:
        """The run's latest attempt before this claim's."""
        earlier = [a for a in self._attempts(claim.run_id) if not claim.attempt or a.attempt < claim.attempt]
        return earlier[-1] if earlier else None

    def history(self, claim: Claim) -> AttemptHistory:
        """A view of the run's attempts."""
        return _History(self)

    def begin_attempt(self, claim: Claim, *, at_least: int, started_at: datetime, host: str) -> Claim:
        """Number the attempt after every recorded one and record it running."""
        with self._records_lock:
            self._fence(claim, "begin an attempt")
            runs = self.records.setdefault(claim.run_id, {})
            number = max(at_least, max(runs, default=0) + 1)
            runs[number] = replace(
                Attempt.unexecuted(
                    run_id=claim.run_id,
                    slug=claim.slug,
                    batch_id=claim.batch_id,
                    attempt=number,
                    outcome=Outcome.RUNNING,
                    base_sha=claim.base_sha,
                    branch=branch_name(claim.slug),
                    host=host,
                    pid=claim.owner.pid,
                    at=started_at,
                    error="",
                ),
                finished_at=None,
                error=None,
            )
        return replace(claim, attempt=number)

    def finish_attempt(self, claim: Claim, attempt: Attempt) -> Path | None:
        """Record how the attempt ended, if the claim is still current."""
        with self._records_lock:
            self._fence(claim, "record its result")
            self.records.setdefault(attempt.run_id, {})[attempt.attempt] = attempt
            if self.shares_queue and attempt.outcome is Outcome.ABANDONED:  # as the shared store does
                self._current_token[claim.run_id] = claim.fencing_token + 1
                with self._lock:
                    self._pending.setdefault(claim.batch_id, deque()).append(claim.run_id)
        return None

    def close_unexecuted(self, claim: Claim, outcome: Outcome, reason: str) -> None:
        """Record an attempt whose command never ran."""
        with self._records_lock:
            number = max(self.records.get(claim.run_id, {}), default=0) + 1
        self.finish_attempt(
            claim,
            unexecuted_attempt(claim, number=number, outcome=outcome, reason=reason, at=self.now()),
        )

    def skip(self, claim: Claim, reason: str) -> None:
        """Remember why the run was skipped."""
        with self._records_lock:
            self.skipped[claim.run_id] = reason

    def latest(self, run_id: str) -> Attempt | None:
        """The run's latest attempt (for tests)."""
        attempts = self._attempts(run_id)
        return attempts[-1] if attempts else None

    def record_pull_request(self, attempt: Attempt, pull: PullRequest) -> None:
        """Record it on the attempt kept here."""
        with self._records_lock:
            kept = self.records.get(attempt.run_id, {})
            if attempt.attempt in kept:
                kept[attempt.attempt] = replace(kept[attempt.attempt], pull_request=pull)

    def database_url(self, claim: Claim) -> str:
        """Nothing a run could open: the records live in this process."""
        return "memory://"


class _History:
    def __init__(self, store: MemoryStore) -> None:
        self._store = store

    def attempts(self, run_id: str | None = None) -> list[Attempt]:
        if run_id is not None:
            return self._store._attempts(run_id)
        return [a for run in sorted(self._store.records) for a in self._store._attempts(run)]

    def mark_abandoned(self, *, run_id: str, attempt: int, at: datetime, reason: str) -> bool:
        with self._store._records_lock:
            found = self._store.records.get(run_id, {}).get(attempt)
            if found is None or found.outcome is not Outcome.RUNNING:
                return False
            self._store.records[run_id][attempt] = replace(
                found, outcome=Outcome.ABANDONED, finished_at=at, error=reason
            )
        return True
