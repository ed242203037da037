"""The shared store's side of the `Store` protocol (a mixin of SharedStore, split out for size).

What the batch engine asks of any store, answered in PostgreSQL: the database's clock, a run's
earlier attempts, skipping and retrying under the claim's fencing token.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from sqlalchemy import func, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from parallel_runs.core.batch import BatchSummary
from parallel_runs.core.model import Attempt, Outcome, PullRequest
from parallel_runs.core.runs_query import RunsPage, RunsQuery
from parallel_runs.store import cancelling, claims, leases, queueing
from parallel_runs.store.batches import read_batch_summaries
from parallel_runs.store.database import UnavailableError
from parallel_runs.store.models import AttemptModel
from parallel_runs.store.protocol import AttemptHistory, Claim, unexecuted_attempt
from parallel_runs.store.records import RunEvent
from parallel_runs.store.rows import read_attempts, record_pull_request, select_attempts
from parallel_runs.store.shared_pages import read_runs_page

__all__ = ["SharedQueue"]

log = logging.getLogger(__name__)

T = TypeVar("T")


class SharedQueue:
    """Clock, history, skip, retry and artifacts of claimed runs; needs the host's `_transaction`."""

    _url: str
    max_artifact_size: int

    def _transaction(self, doing: str, work: Callable[[Connection], T]) -> T:
        raise NotImplementedError

    def finish_attempt(self, claim: Claim, result: Attempt) -> Path | None:
        raise NotImplementedError

    def store_artifacts(
        self, claim: Claim, directory: Path, *, max_size: int, instead: dict[str, Path] | None = None
    ) -> object:
        raise NotImplementedError

    def now(self) -> datetime:
        """The database's clock: every machine's deadlines and leases are on it."""
        return self._transaction("read the clock", lambda conn: conn.execute(select(leases.NOW)).scalar_one())

    def record_pull_request(self, attempt: Attempt, pull: PullRequest) -> None:
        """Record the pull request opened from the attempt's branch."""
        self._transaction("record a pull request", lambda c: c.execute(record_pull_request(attempt, pull)))

    def cancel(self, batch_id: str) -> list[str] | None:
        """Stop the batch on every worker; the queued runs recorded `not_started`, None if no such batch."""
        return self._transaction("cancel the batch", lambda conn: cancelling.cancel_batch(conn, batch_id))

    def is_cancelled(self, batch_id: str) -> bool:
        """True once `parallel-runs cancel` stopped the batch."""
        return self._transaction("read the batch", lambda conn: cancelling.is_cancelled(conn, batch_id))

    def outcomes(self, batch_id: str) -> dict[str, int] | None:
        """How many of the batch's runs ended each way, or are still `pending` / `running`."""
        outcome = func.coalesce(leases.LEASES.c.outcome, leases.LEASES.c.state)
        query = select(outcome, func.count()).where(leases.LEASES.c.batch_id == batch_id).group_by(outcome)
        rows = self._transaction("count the batch", lambda conn: conn.execute(query).all())
        return {str(outcome): int(count) for outcome, count in rows}

    def batch_summaries(self) -> list[BatchSummary]:
        """Every batch: its runs counted by outcome (`queued`, `running` for unfinished ones), its times."""
        return self._transaction("list batches", read_batch_summaries)

    def runs_page(self, batch_id: str, query: RunsQuery) -> RunsPage:
        """One page of the batch's runs, filtered and sorted in SQL (`shared_pages.py`)."""
        return self._transaction("read a page of runs", lambda conn: read_runs_page(conn, batch_id, query))

    def run_attempts(self, run_id: str, *, before: int | None = None) -> list[Attempt]:
        """A run's attempts in any batch (those numbered below `before`, if given), oldest first."""
        query = select_attempts().where(AttemptModel.run_id == run_id)
        if before is not None:
            query = query.where(AttemptModel.attempt < before)
        query = query.order_by(AttemptModel.attempt)

        def read(conn: Connection) -> list[Attempt]:
            with Session(conn) as session:
                return read_attempts(session, query)

        return self._transaction("read a run's attempts", read)

    def run_events(self, run_id: str) -> list[RunEvent]:
        """The run's events (its lease taken, taken over, ...), oldest first."""
        query = select(leases.EVENTS).where(leases.EVENTS.c.run_id == run_id).order_by(leases.EVENTS.c.id)
        rows = self._transaction("read a run's events", lambda conn: conn.execute(query).all())
        return [
            RunEvent(run_id=row.run_id, attempt=row.attempt, at=row.at, kind=row.kind, message=row.message)
            for row in rows
        ]

    def previous_attempt(self, claim: Claim) -> Attempt | None:
        """The run's latest attempt before this claim's, in any batch."""
        earlier = self.run_attempts(claim.run_id, before=claim.attempt)
        return earlier[-1] if earlier else None

    def history(self, claim: Claim) -> AttemptHistory:
        """The run's attempts before this claim's: what a leftover worktree here belongs to."""
        return _EarlierAttempts(self, claim)

    def begin_attempt(self, claim: Claim, *, at_least: int, started_at: datetime, host: str) -> Claim:
        """Nothing to record: the claim recorded its attempt as running, numbered by the database."""
        return claim

    def close_unexecuted(self, claim: Claim, outcome: Outcome, reason: str) -> None:
        """Close the claim with an attempt whose command never ran, or it is taken over every TTL."""
        attempt = unexecuted_attempt(
            claim, number=claim.attempt, outcome=outcome, reason=reason, at=self.now()
        )
        self.finish_attempt(claim, attempt)

    def skip(self, claim: Claim, reason: str) -> None:
        """Finish the claimed run as `skipped`: its latest attempt, in another batch, succeeded."""
        log.info("run %r skipped: %s", claim.run_id, reason)
        self._transaction("skip a run", lambda conn: leases.skip_claim(conn, claim))

    def retry(self, claim: Claim) -> Claim | None:
        """Queue the finished run again and claim it at once (one transaction: no one else gets it)."""
        ask = claims.ClaimAsk(batch_id=claim.batch_id, run_id=claim.run_id, owner=claim.owner, ttl=claim.ttl)

        def work(conn: Connection) -> Claim | None:
            # Done again after a commit whose acknowledgement was lost: the run is claimed by now,
            # so nothing is requeued; the claim it took is found by its key.
            if ask.tried and (taken := claims.committed(conn, ask)) is not None:
                return taken
            if not queueing.requeue_runs(
                conn, batch_id=claim.batch_id, run_ids=[claim.run_id], max_attempts=None
            ):
                return None
            return claims.take_claims(conn, [ask])[0]

        return self._transaction("retry a run", work)

    def keep_artifacts(self, claim: Claim, directory: Path, *, log_from: int = 0) -> None:
        """Store the attempt's artifacts, its own part of run.log (from byte `log_from`) as run.log;
        an outage keeps them in `directory` (the result matters more)."""
        with tempfile.TemporaryDirectory(prefix="parallel-runs-log-") as scratch:
            instead, whole_log = {}, directory / "run.log"
            if whole_log.is_file():
                instead["run.log"] = Path(scratch) / "run.log"
                with whole_log.open("rb") as whole, instead["run.log"].open("wb") as part:
                    whole.seek(log_from)
                    shutil.copyfileobj(whole, part)
            try:
                self.store_artifacts(claim, directory, max_size=self.max_artifact_size, instead=instead)
            except UnavailableError as exc:
                log.warning(
                    "run %r: artifacts not stored (they stay in %s): %s", claim.run_id, directory, exc
                )

    def database_url(self, claim: Claim) -> str:
        """Runs are told the shared store's URL."""
        return self._url


class _EarlierAttempts:
    """The shared store's record of a claimed run's earlier attempts: what a leftover worktree holds."""

    def __init__(self, store: SharedQueue, claim: Claim) -> None:
        self._store, self._claim = store, claim

    def attempts(self, run_id: str | None = None) -> list[Attempt]:
        return self._store.run_attempts(run_id or self._claim.run_id, before=self._claim.attempt)

    def mark_abandoned(self, *, run_id: str, attempt: int, at: datetime, reason: str) -> bool:
        """Nothing to mark: claiming the run already marked every expired attempt `abandoned`."""
        return False
