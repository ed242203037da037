"""One run on this machine: lease → lock → (recover) → attempts with retries → release.

Attempts are recorded in the run's SQLite store (or one shared SQLite file). attempt.py runs one
attempt; worker.py runs attempts claimed from the shared PostgreSQL store.
"""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime

from parallel_runs import git, maintenance
from parallel_runs.attempt import run_attempt
from parallel_runs.control import BatchControl
from parallel_runs.core.events import EventKind
from parallel_runs.core.model import Attempt, Outcome
from parallel_runs.core.policy import RETRYABLE
from parallel_runs.core.request import RunRequest
from parallel_runs.errors import AlreadyHeldError
from parallel_runs.locks import OwnedLock, hold_run, stale_record
from parallel_runs.store import RunStore

__all__ = [
    "HeldRun",
    "LocalRecorder",
    "RunSummary",
    "SkippedRun",
    "execute_run",
    "recover_leftover_worktree",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class HeldRun:
    """Not executed here: a live process holds the run."""

    run_id: str
    error: AlreadyHeldError


@dataclass(frozen=True, slots=True)
class SkippedRun:
    """Not executed: resume rules say it needs no new attempt (or the batch stopped first)."""

    run_id: str
    outcome: Outcome  # SKIPPED or NOT_STARTED
    reason: str


@dataclass(frozen=True, slots=True)
class RunSummary:
    """Every attempt this batch made of one run; the last one decides."""

    run_id: str
    attempts: tuple[Attempt, ...]

    @property
    def final(self) -> Attempt:
        return self.attempts[-1]


def _now() -> datetime:
    return datetime.now(UTC)


def recover_leftover_worktree(
    request: RunRequest, *, held: tuple[OwnedLock, OwnedLock], store: maintenance.AttemptHistory
) -> git.WorkspaceManager:
    """If the run's worktree outlived its last holder (we hold its lease now), save its work first."""
    workspaces = git.WorkspaceManager(repo=request.repo, paths=request.paths)
    if workspaces.exists():
        maintenance.recover_orphaned_worktree(
            repo=request.repo,
            runs_dir=request.runs_dir,
            run_id=request.run_id,
            slug=request.slug,
            stale_record=stale_record(held),
            store=store,
            fallback_base_sha=request.base_sha,
        )
    return workspaces


class LocalRecorder:
    """Records attempts in a SQLite store (the run's own, or one shared file)."""

    def __init__(self, store: RunStore, request: RunRequest) -> None:
        self._store, self._request = store, request

    def begin(self, *, attempt: int, started_at: datetime, host: str, pid: int) -> None:
        """Insert the attempt as `running`."""
        request = self._request
        self._store.begin_attempt(
            run_id=request.run_id,
            slug=request.slug,
            batch_id=request.batch_id,
            attempt=attempt,
            base_sha=request.base_sha,
            branch=request.paths.branch,
            host=host,
            pid=pid,
            started_at=started_at,
        )

    def finish(self, result: Attempt) -> None:
        """Write the attempt's outcome."""
        self._store.finish_attempt(result)


def execute_run(request: RunRequest, control: BatchControl) -> RunSummary | HeldRun | SkippedRun:
    """Hold the run's lease and lock for all of its attempts; record every attempt."""
    if request.database is None:
        raise ValueError("execute_run records into SQLite: the request needs a database file")
    try:
        with hold_run(request.paths, run_id=request.run_id) as held, RunStore.open(request.database) as store:
            return _run_holding_locks(request, control=control, store=store, held=held)
    except AlreadyHeldError as held_elsewhere:
        control.emit(EventKind.RUN_HELD, request.run_id, holder=str(held_elsewhere))
        return HeldRun(request.run_id, held_elsewhere)


def _skip_reason(request: RunRequest, store: RunStore) -> str | None:
    latest = store.latest_attempt(request.run_id)
    if latest is not None and latest.outcome is Outcome.SUCCEEDED and not request.policy.redo:
        return f"attempt {latest.attempt} already succeeded (use --redo to run it again)"
    if request.policy.only_failed and latest is None:
        return "never ran (--only-failed runs only runs that did not succeed)"
    return None


def _run_holding_locks(
    request: RunRequest, *, control: BatchControl, store: RunStore, held: tuple[OwnedLock, OwnedLock]
) -> RunSummary | SkippedRun:
    workspaces = recover_leftover_worktree(request, held=held, store=store)
    if control.is_stopping:
        return _record_not_started(request, store=store, control=control)
    if reason := _skip_reason(request, store):
        control.emit(EventKind.RUN_SKIPPED, request.run_id, reason=reason)
        return SkippedRun(request.run_id, Outcome.SKIPPED, reason)
    recorder = LocalRecorder(store, request)
    results: list[Attempt] = []
    for _ in range(request.policy.retries + 1):
        # Numbered after both the store and the branch's kept attempt refs: either may have been reset.
        attempt = 1 + max(
            store.last_attempt_number(request.run_id), git.last_attempt_ref_number(request.repo, request.slug)
        )
        result = run_attempt(
            request, attempt=attempt, control=control, recorder=recorder, workspaces=workspaces, held=held
        )
        results.append(result)
        if result.outcome not in RETRYABLE or len(results) > request.policy.retries or control.is_stopping:
            break
        control.emit(
            EventKind.RETRY_SCHEDULED,
            request.run_id,
            after_attempt=result.attempt,
            delay_seconds=request.policy.retry_delay,
        )
        if not control.sleep(request.policy.retry_delay):
            break
    return RunSummary(request.run_id, tuple(results))


def _record_not_started(request: RunRequest, *, store: RunStore, control: BatchControl) -> SkippedRun:
    """The batch stopped before this run began: say so in its store, so the report tells it."""
    store.finish_attempt(
        Attempt.unexecuted(
            run_id=request.run_id,
            slug=request.slug,
            batch_id=request.batch_id,
            attempt=store.last_attempt_number(request.run_id) + 1,
            outcome=Outcome.NOT_STARTED,
            base_sha=request.base_sha,
            branch=request.paths.branch,
            host=socket.gethostname(),
            pid=os.getpid(),
            at=_now(),
            error=f"batch stopped ({control.stop_reason}) before this run started",
        )
    )
    control.emit(EventKind.RUN_NOT_STARTED, request.run_id, reason=control.stop_reason)
    return SkippedRun(request.run_id, Outcome.NOT_STARTED, f"batch stopped ({control.stop_reason})")
