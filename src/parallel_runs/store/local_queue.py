"""The queue of a batch that only this process works: in memory, handed out to its worker threads.

The per-run SQLite store and the in-memory store share it; they differ in where attempts are
recorded. Nobody else claims these runs, so a lease never expires and a fence never moves; what
keeps two processes of one machine apart is the run's file lock, which the engine takes.
"""

from __future__ import annotations

import itertools
import threading
from collections import deque
from collections.abc import Collection
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from parallel_runs.core.batch import BatchDefinition
from parallel_runs.core.ids import slugify
from parallel_runs.errors import ConfigError
from parallel_runs.store.protocol import Claim, LeaseOwner

__all__ = ["LocalQueue"]


class LocalQueue:
    """Batches queued in this process; thread-safe. Subclasses record the attempts."""

    shares_queue = False

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._batches: dict[str, BatchDefinition] = {}
        self._pending: dict[str, deque[str]] = {}
        self._tokens = itertools.count(1)

    def enqueue(self, definition: BatchDefinition) -> list[tuple[str, str]]:
        """Queue the batch's runs; the resume rules are applied when each run is claimed."""
        with self._lock:
            existing = self._batches.get(definition.batch_id)
            if existing is not None:
                if differing := existing.differences(definition):
                    raise ConfigError(
                        f"batch {definition.batch_id!r} already exists with a different definition "
                        f"({', '.join(differing)}); choose another --batch-id"
                    )
                self._batches[definition.batch_id] = definition  # its latest resume rules and budget
                return []
            self._batches[definition.batch_id] = definition
            self._pending[definition.batch_id] = deque(definition.run_ids)
        return []

    def get_batch(self, batch_id: str) -> BatchDefinition | None:
        """A batch queued in this process, or None."""
        with self._lock:
            return self._batches.get(batch_id)

    def now(self) -> datetime:
        """This machine's clock."""
        return datetime.now(UTC)

    def claim_next(
        self, *, batch_id: str, owner: LeaseOwner, ttl: float, exclude: Collection[str] = ()
    ) -> Claim | None:
        """The next queued run; its attempt is numbered when it begins, under the run's lock.

        `exclude` changes nothing: a private queue hands each run out once.
        """
        with self._lock:
            queue = self._pending.get(batch_id)
            if not queue:
                return None
            run_id = queue.popleft()
            base_sha = self._batches[batch_id].base_sha
            token = next(self._tokens)
        claim = Claim(
            batch_id=batch_id,
            run_id=run_id,
            slug=slugify(run_id),
            attempt=0,
            fencing_token=token,
            expires_at=self.now() + timedelta(seconds=ttl),
            owner=owner,
            ttl=ttl,
            base_sha=base_sha,
        )
        self._on_claim(claim)
        return claim

    def _on_claim(self, claim: Claim) -> None:
        """A subclass's hook: a run was just claimed."""

    def is_batch_finished(self, batch_id: str) -> bool:
        """True when nothing is left to claim (claimed runs belong to this process's own threads)."""
        with self._lock:
            return not self._pending.get(batch_id)

    def is_cancelled(self, batch_id: str) -> bool:
        """A private queue is stopped by its own process (Ctrl-C), never cancelled from elsewhere."""
        return False

    def outcomes(self, batch_id: str) -> dict[str, int] | None:
        """Every run of a private queue ran here: the batch's own result says it all."""
        return None

    def heartbeat(self, claim: Claim) -> Claim:
        """Nothing can take the run over: the lease just moves on."""
        return replace(claim, expires_at=self.now() + timedelta(seconds=claim.ttl))

    def retry(self, claim: Claim) -> Claim | None:
        """The same run again; `begin_attempt` gives it the next number."""
        return replace(claim, attempt=0)

    def keep_artifacts(self, claim: Claim, directory: Path, *, log_from: int = 0) -> None:
        """Nothing to do: the artifacts stay in the runs dir, where every local reader looks."""

    def flush_spool(self) -> None:
        """Nothing is ever spooled: local records are written at once."""

    def close(self) -> None:
        """Nothing to release."""
