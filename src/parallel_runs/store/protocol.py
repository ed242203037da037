"""The one `Store` the batch engine runs over, and the claim it hands out on a run.

Three stores implement it: per-run SQLite files (the embedded default, `local.py`), the shared
PostgreSQL database (`shared.py`) and an in-memory store for tests (`memory.py`). The engine never
asks which one it has; where they must differ, the protocol names the difference (`shares_queue`).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from parallel_runs.core.batch import BatchDefinition
from parallel_runs.core.layout import branch_name
from parallel_runs.core.model import Attempt, Outcome, PullRequest

__all__ = ["AttemptHistory", "Claim", "LeaseOwner", "Store", "unexecuted_attempt"]


@dataclass(frozen=True, slots=True)
class LeaseOwner:
    """Who holds a lease: host, process and a worker id unique within the process."""

    host: str
    pid: int
    worker_id: str

    @classmethod
    def here(cls, worker_id: str) -> LeaseOwner:
        """An owner naming this host and process."""
        return cls(host=socket.gethostname(), pid=os.getpid(), worker_id=worker_id)

    def describe(self) -> str:
        """One phrase naming the owner, for messages."""
        return f"host {self.host}, pid {self.pid}, worker {self.worker_id}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Claim:
    """A lease on one run of a batch, valid while its fencing token is the run's current one."""

    batch_id: str
    run_id: str
    slug: str
    attempt: int  # 0 until `begin_attempt` numbers it, where the store numbers attempts then
    fencing_token: int
    expires_at: datetime  # by the store's clock
    owner: LeaseOwner
    ttl: float
    base_sha: str
    abandoned_attempt: int | None = None  # the expired attempt this claim took over, if any


def unexecuted_attempt(claim: Claim, *, number: int, outcome: Outcome, reason: str, at: datetime) -> Attempt:
    """The record of the claim's attempt `number`, whose command never ran (not started, held)."""
    return Attempt.unexecuted(
        run_id=claim.run_id,
        slug=claim.slug,
        batch_id=claim.batch_id,
        attempt=number,
        outcome=outcome,
        base_sha=claim.base_sha,
        branch=branch_name(claim.slug),
        host=claim.owner.host,
        pid=claim.owner.pid,
        at=at,
        error=reason,
    )


class AttemptHistory(Protocol):
    """Where a run's earlier attempts are recorded: what a leftover worktree is saved as."""

    def attempts(self, run_id: str | None = None) -> list[Attempt]: ...

    def mark_abandoned(self, *, run_id: str, attempt: int, at: datetime, reason: str) -> bool: ...


class Store(Protocol):
    """Where a batch's runs are queued, claimed under a lease, and recorded."""

    # True when other processes work the same queue: a stop here (Ctrl-C) leaves its runs to them.
    shares_queue: bool

    def enqueue(self, definition: BatchDefinition) -> list[tuple[str, str]]:
        """Create the batch (or find the same one) and queue its runs; return (run id, reason) skipped."""
        ...

    def get_batch(self, batch_id: str) -> BatchDefinition | None:
        """A batch's definition, or None."""
        ...

    def now(self) -> datetime:
        """The store's clock (deadlines and lease expiries are on it)."""
        ...

    def claim_next(
        self, *, batch_id: str, owner: LeaseOwner, ttl: float, exclude: Collection[str] = ()
    ) -> Claim | None:
        """Claim the next runnable run, none of `exclude`, under a lease and fence; None if none is free."""
        ...

    def is_cancelled(self, batch_id: str) -> bool:
        """True once `parallel-runs cancel` stopped the batch (only a shared batch can be)."""
        ...

    def outcomes(self, batch_id: str) -> dict[str, int] | None:
        """How many of the batch's runs ended each way, wherever they ran; None for a private queue."""
        ...

    def is_batch_finished(self, batch_id: str) -> bool:
        """True when no run of the batch is queued or claimed."""
        ...

    def heartbeat(self, claim: Claim) -> Claim:
        """Renew a lease for another TTL; LeaseLostError if it was taken over."""
        ...

    def previous_attempt(self, claim: Claim) -> Attempt | None:
        """The run's latest attempt before this claim's, in any batch (the resume rules read it)."""
        ...

    def history(self, claim: Claim) -> AttemptHistory:
        """The run's earlier attempts, for saving a worktree an earlier holder left behind."""
        ...

    def begin_attempt(self, claim: Claim, *, at_least: int, started_at: datetime, host: str) -> Claim:
        """Record the claim's attempt as running, numbered at least `at_least`; the numbered claim."""
        ...

    def finish_attempt(self, claim: Claim, attempt: Attempt) -> Path | None:
        """Record how an attempt ended, under the claim's fence; the spool file if it had to wait."""
        ...

    def close_unexecuted(self, claim: Claim, outcome: Outcome, reason: str) -> None:
        """Close a claim whose command never ran (`held` here, `not_started`), saying why."""
        ...

    def skip(self, claim: Claim, reason: str) -> None:
        """Close a claim the resume rules need no attempt for (outcome `skipped`)."""
        ...

    def retry(self, claim: Claim) -> Claim | None:
        """Claim the same run again for its next attempt; None if someone else has it now."""
        ...

    def keep_artifacts(self, claim: Claim, directory: Path, *, log_from: int = 0) -> None:
        """Keep the attempt's artifacts where every machine can read them (a no-op for local files)."""
        ...

    def database_url(self, claim: Claim) -> str:
        """The URL a run is told its records are in (PARALLEL_RUNS_DATABASE_URL)."""
        ...

    def record_pull_request(self, attempt: Attempt, pull: PullRequest) -> None:
        """After the batch: the pull request opened from the ended attempt's branch (the action's)."""
        ...

    def flush_spool(self) -> object:
        """Write results that waited for the store to come back."""
        ...

    def close(self) -> None:
        """Release the store's connections."""
        ...
