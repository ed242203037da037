"""The shared PostgreSQL store: batches, cross-machine run claims, results, artifacts.

Every operation is one short transaction, retried with backoff on transient connection errors;
operations are idempotent (claims carry a key, fenced writes a token), so a retry after a commit
whose acknowledgement was lost does no harm.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Collection
from pathlib import Path
from typing import TypeVar

from sqlalchemy import Engine
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from parallel_runs import testing_faults
from parallel_runs.core.batch import BatchDefinition
from parallel_runs.core.defaults import DEFAULT_LEASE_TTL
from parallel_runs.core.model import Attempt
from parallel_runs.errors import ConfigError, ParallelRunsError, StoreError
from parallel_runs.store import claims, leases, queueing, spool
from parallel_runs.store.artifact_access import ArtifactAccess
from parallel_runs.store.artifacts import DEFAULT_MAX_ARTIFACT_SIZE
from parallel_runs.store.batches import (
    BatchRunRecord,
    insert_batch,
    is_batch_finished,
    read_batch,
    read_batch_runs,
)
from parallel_runs.store.closing import Closing
from parallel_runs.store.database import ReconnectPolicy, UnavailableError, create_store_engine, retry
from parallel_runs.store.migrate import require_current_schema
from parallel_runs.store.models import AttemptModel
from parallel_runs.store.protocol import Claim, LeaseOwner
from parallel_runs.store.rows import read_attempts, select_attempts
from parallel_runs.store.shared_queue import SharedQueue
from parallel_runs.store.spool import SpoolReport
from parallel_runs.store.urls import mask_url, parse_postgres_url

__all__ = ["DEFAULT_LEASE_TTL", "SharedStore"]

log = logging.getLogger(__name__)

T = TypeVar("T")


class SharedStore(ArtifactAccess, SharedQueue, Closing):
    """One shared PostgreSQL database for every machine working on a batch."""

    shares_queue = True

    def __init__(
        self,
        engine: Engine,
        *,
        url: str,
        policy: ReconnectPolicy,
        spool_dir: Path | None,
        max_artifact_size: int = DEFAULT_MAX_ARTIFACT_SIZE,
    ) -> None:
        self._engine = engine
        self.max_artifact_size = max_artifact_size
        self._url = url
        self._policy = policy
        self.spool_dir = spool_dir
        self.masked_url = mask_url(url)
        self._flush_lock = threading.Lock()
        self._flusher: threading.Thread | None = None

    @classmethod
    def connect(
        cls,
        url: str,
        *,
        spool_dir: Path | None = None,
        reconnect_policy: ReconnectPolicy | None = None,
        max_artifact_size: int = DEFAULT_MAX_ARTIFACT_SIZE,
    ) -> SharedStore:
        """Open the store; ConfigError if the URL is not PostgreSQL or its schema is not current."""
        parsed = parse_postgres_url(url)
        store = cls(
            create_store_engine(parsed),
            url=url,
            policy=reconnect_policy or ReconnectPolicy(),
            spool_dir=spool_dir,
            max_artifact_size=max_artifact_size,
        )
        try:
            store._transaction("check the schema", store._check_schema)
        except ConfigError:
            store.close()
            raise
        except StoreError as exc:
            store.close()
            raise ConfigError(f"cannot use the shared store: {exc}") from exc
        return store

    def _check_schema(self, conn: Connection) -> None:
        require_current_schema(conn, masked_url=self.masked_url)

    def _transaction(self, doing: str, work: Callable[[Connection], T]) -> T:
        def once() -> T:
            with self._engine.begin() as conn:
                return work(conn)

        return retry(once, doing=doing, url=self._url, policy=self._policy)

    # --- batches ---------------------------------------------------------------------------

    def create_batch(self, definition: BatchDefinition) -> BatchDefinition:
        """Create a batch and queue its runs; the same definition again is a no-op."""
        return self._transaction("create batch", lambda conn: insert_batch(conn, definition))

    def get_batch(self, batch_id: str) -> BatchDefinition | None:
        """A batch's definition, or None."""
        return self._transaction("read batch", lambda conn: read_batch(conn, batch_id))

    def batch_runs(self, batch_id: str) -> list[BatchRunRecord]:
        """Every run of a batch with its queue state and lease, in batch order."""
        return self._transaction("read batch runs", lambda conn: read_batch_runs(conn, batch_id))

    def is_batch_finished(self, batch_id: str) -> bool:
        """True when every run of the batch is finished (none pending or claimed)."""
        return self._transaction("check the batch", lambda conn: is_batch_finished(conn, batch_id))

    def requeue(
        self, batch_id: str, run_ids: Collection[str] | None = None, *, max_attempts: int | None = None
    ) -> list[str]:
        """Queue finished, unsuccessful runs again (all, or those named); return the ids requeued."""
        return self._transaction(
            "requeue runs",
            lambda conn: queueing.requeue_runs(
                conn, batch_id=batch_id, run_ids=run_ids, max_attempts=max_attempts
            ),
        )

    def enqueue(self, definition: BatchDefinition) -> list[tuple[str, str]]:
        """Create the batch (or find it) and queue its runs by its resume rules, in one transaction.

        Returns the (run id, reason) of each run the rules skip; see queueing.resume_runs.
        """

        def work(conn: Connection) -> list[tuple[str, str]]:
            batch = insert_batch(conn, definition)
            return queueing.resume_runs(
                conn, batch_id=batch.batch_id, redo=definition.redo, only_failed=definition.only_failed
            )

        return self._transaction("enqueue the batch", work)

    # --- claims ----------------------------------------------------------------------------

    def _claim(
        self,
        *,
        batch_id: str,
        run_id: str | None,
        owner: LeaseOwner,
        ttl: float,
        exclude: Collection[str] = (),
    ) -> Claim | None:
        if ttl <= 0:
            raise ValueError(f"lease TTL must be positive, got {ttl}")
        key, retried, replayed = uuid.uuid4().hex, False, spool.Replayed()

        def work(conn: Connection) -> Claim | None:
            nonlocal retried, replayed
            # Spooled results first, in the claim's own transaction: a claim may be on its way (retrying
            # through an outage) when a result is spooled, and must not take over the lease it is under.
            replayed = spool.replay(conn, self.spool_dir)
            # A retry may follow a commit whose acknowledgement was lost: find it, don't claim twice.
            if retried and (
                found := claims.find_claim(conn, batch_id=batch_id, key=key, owner=owner, ttl=ttl)
            ):
                return found
            retried = True
            return claims.take_claim(
                conn, batch_id=batch_id, run_id=run_id, owner=owner, ttl=ttl, key=key, skip=exclude
            )

        claim = self._transaction("claim a run", work)
        replayed.settle()
        if claim is not None:
            log.debug(
                "claimed %s/%s attempt %d token %d",
                batch_id,
                claim.run_id,
                claim.attempt,
                claim.fencing_token,
            )
        return claim

    def claim_next(
        self,
        *,
        batch_id: str,
        owner: LeaseOwner,
        ttl: float = DEFAULT_LEASE_TTL,
        exclude: Collection[str] = (),
    ) -> Claim | None:
        """Claim the next pending (or expired) run of a batch, none of `exclude`; None when none is free."""
        return self._claim(batch_id=batch_id, run_id=None, owner=owner, ttl=ttl, exclude=exclude)

    def claim_run(
        self, *, batch_id: str, run_id: str, owner: LeaseOwner, ttl: float = DEFAULT_LEASE_TTL
    ) -> Claim | None:
        """Claim one specific run; None if it holds a live lease, is finished, or is not in the batch."""
        return self._claim(batch_id=batch_id, run_id=run_id, owner=owner, ttl=ttl)

    def heartbeat(self, claim: Claim) -> Claim:
        """Renew a lease for another TTL; LeaseLostError if it was taken over."""
        return self._transaction("renew a lease", lambda conn: leases.renew(conn, claim))

    def finish_attempt(self, claim: Claim, result: Attempt) -> Path | None:
        """Record an attempt's final result under its claim; spool it if the database is unreachable.

        Returns None when written, or the spool file to replay with `flush_spool`. A stale claim
        raises LeaseLostError and nothing is written.
        """
        try:
            self._transaction("record a result", lambda conn: leases.finish_claim(conn, claim, result))
        except UnavailableError:
            if self.spool_dir is None or testing_faults.is_broken("spool"):  # chaos-proof only: no spool
                raise
            path = spool.write_entry(self.spool_dir, claim=claim, result=result)
            self._keep_flushing(claim.ttl)
            log.warning(
                "database %s unreachable: result of run %r attempt %d spooled to %s",
                self.masked_url,
                claim.run_id,
                claim.attempt,
                path,
            )
            return path
        return None

    def _keep_flushing(self, ttl: float) -> None:
        """Replay the spool every TTL/3 until it is empty, whatever the workers are busy with: a lease
        that lapsed in an outage is taken one TTL after the database's restart (leases.lapsed)."""
        with self._flush_lock:
            if self._flusher is not None and self._flusher.is_alive():
                return
            self._flusher = threading.Thread(target=self._flush_until_empty, args=(ttl / 3,), daemon=True)
            self._flusher.start()

    def _flush_until_empty(self, interval: float) -> None:
        while self.spool_dir is not None and any(self.spool_dir.glob("*.json")):
            time.sleep(interval)
            try:
                self.flush_spool()
            except ParallelRunsError as exc:  # e.g. a reconnect refused: try again next time
                log.warning("spooled results not replayed yet: %s", exc)

    def flush_spool(self) -> SpoolReport:
        """Write spooled results (still under their tokens); stop at the first unreachable moment."""
        with self._flush_lock:  # worker threads may flush at once: each entry is replayed once
            return self._flush_spool()

    def _flush_spool(self) -> SpoolReport:
        if self.spool_dir is None or not any(self.spool_dir.glob("*.json")):
            return SpoolReport()
        try:
            replayed = self._transaction(
                "replay spooled results", lambda conn: spool.replay(conn, self.spool_dir)
            )
        except UnavailableError:
            return SpoolReport(remaining=len(spool.read_entries(self.spool_dir)))
        replayed.settle()
        return SpoolReport(stored=len(replayed.stored), rejected=len(replayed.rejected))

    # --- records ---------------------------------------------------------------------------

    def attempts(self, batch_id: str | None = None) -> list[Attempt]:
        """Every attempt (of one batch, or of all), ordered by run id then attempt number."""
        query = select_attempts()
        if batch_id is not None:
            query = query.where(AttemptModel.batch_id == batch_id)
        query = query.order_by(AttemptModel.run_id, AttemptModel.attempt)

        def read(conn: Connection) -> list[Attempt]:
            with Session(conn) as session:
                return read_attempts(session, query)

        return self._transaction("read attempts", read)

    # --- lifetime --------------------------------------------------------------------------

    def close(self) -> None:
        """Close every pooled connection."""
        self._engine.dispose()
