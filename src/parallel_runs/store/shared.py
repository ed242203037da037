"""The shared PostgreSQL store: batches, cross-machine run claims, results, artifacts.

Every operation is one short transaction, retried with backoff on transient connection errors;
operations are idempotent (claims carry a key, fenced writes a token), so a retry after a commit
whose acknowledgement was lost does no harm.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from pathlib import Path
from typing import TypeVar

from sqlalchemy import Engine
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from parallel_runs.core.batch import BatchDefinition
from parallel_runs.core.defaults import DEFAULT_LEASE_TTL
from parallel_runs.core.model import Attempt
from parallel_runs.errors import ConfigError, StoreError
from parallel_runs.store import queueing
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
from parallel_runs.store.database import ReconnectPolicy, create_store_engine, retry
from parallel_runs.store.migrate import require_current_schema
from parallel_runs.store.models import AttemptModel
from parallel_runs.store.rows import read_attempts, select_attempts
from parallel_runs.store.shared_leases import SharedLeases
from parallel_runs.store.shared_queue import SharedQueue
from parallel_runs.store.urls import mask_url, parse_postgres_url

__all__ = ["DEFAULT_LEASE_TTL", "SharedStore"]

log = logging.getLogger(__name__)

T = TypeVar("T")


class SharedStore(ArtifactAccess, SharedLeases, SharedQueue, Closing):
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
        self._start_leases()

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
