"""Work a batch from the shared PostgreSQL store: claim runs one at a time until none remain.

Any number of worker processes, on any machines, can share a batch: a fast machine simply claims
more runs (work stealing, not static shards). The database decides who runs what (fenced claims);
the file locks of this machine still guard its own worktrees.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from parallel_runs import git
from parallel_runs.attempt import run_attempt
from parallel_runs.config import RunSettings, WorkerSettings
from parallel_runs.control import BatchControl
from parallel_runs.core.command import CommandSpec
from parallel_runs.core.events import EventKind
from parallel_runs.core.ids import slugify
from parallel_runs.core.model import Attempt, Outcome
from parallel_runs.core.policy import RETRYABLE
from parallel_runs.core.request import RunRequest
from parallel_runs.core.suite import TestSpec
from parallel_runs.errors import AlreadyHeldError, ConfigError, LeaseLostError
from parallel_runs.execution import HeldRun, RunSummary, SkippedRun, recover_leftover_worktree
from parallel_runs.locks import hold_run
from parallel_runs.store import (
    BatchDefinition,
    Claim,
    LeaseKeeper,
    LeaseOwner,
    SharedStore,
    UnavailableError,
)
from parallel_runs.supervisor import BatchResult, RunEnd, RunError, finish_batch, guarded, run_batch

__all__ = ["SharedRecorder", "WorkerSettings", "execute_batch", "work_batch"]

log = logging.getLogger(__name__)

IDLE_POLL_SECONDS = 1.0  # how often an idle worker looks again for runs whose lease expired
MAX_OUTAGE_SECONDS = 300.0  # a worker gives up when the shared store stays unreachable this long


class SharedRecorder:
    """Records one claimed attempt in the shared store: artifacts, then the fenced result."""

    def __init__(self, store: SharedStore, claim: Claim, *, artifacts: Path, max_size: int) -> None:
        self._store, self._claim, self._artifacts, self._max_size = store, claim, artifacts, max_size

    def begin(self, *, attempt: int, started_at: datetime, host: str, pid: int) -> None:
        """Nothing to do: claiming the run recorded the attempt as running."""

    def finish(self, result: Attempt) -> None:
        """Store the artifacts, then the result; LeaseLostError if another worker took the run over."""
        try:
            self._store.store_artifacts(self._claim, self._artifacts, max_size=self._max_size)
        except UnavailableError as exc:  # the result matters more: it still gets written or spooled
            log.warning(
                "run %r: artifacts not stored (they stay in %s): %s", result.run_id, self._artifacts, exc
            )
        spooled = self._store.finish(self._claim, result)
        if spooled is not None:
            log.warning(
                "run %r: database unreachable, result kept in %s until it is back", result.run_id, spooled
            )


def _request(batch: BatchDefinition, claim: Claim, settings: WorkerSettings) -> RunRequest:
    spec = None
    if batch.test_command:
        spec = TestSpec(
            command=CommandSpec(shell=batch.test_command),
            timeout=settings.test_timeout,
            retries=settings.test_retries,
        )
    return RunRequest(
        run_id=claim.run_id,
        slug=claim.slug,
        batch_id=batch.batch_id,
        repo=settings.repo,
        runs_dir=settings.runs_dir,
        base_sha=batch.base_sha,
        command=batch.command,
        timeout=batch.timeout,
        keep_worktree=settings.keep_worktrees,
        environ=settings.environ,
        database_url=settings.database_url,
        tests=spec,
        fail_on_regression=settings.fail_on_regression,
    )


def _lease_lost(control: BatchControl, run_id: str) -> None:
    """Another worker took the run over: stop our command, its result could not be recorded anyway."""
    log.warning("run %r: lease lost to another worker; stopping this attempt", run_id)
    control.stop_run(run_id)


def _held_result(request: RunRequest, claim: Claim, error: AlreadyHeldError) -> Attempt:
    return Attempt.unexecuted(
        run_id=claim.run_id,
        slug=claim.slug,
        batch_id=claim.batch_id,
        attempt=claim.attempt,
        outcome=Outcome.HELD,
        base_sha=request.base_sha,
        branch=request.paths.branch,
        host=claim.owner.host,
        pid=claim.owner.pid,
        at=datetime.now(UTC),
        error=str(error),
    )


class _EarlierAttempts:
    """The shared store's record of a claimed run's earlier attempts: what a leftover worktree holds."""

    def __init__(self, store: SharedStore, claim: Claim) -> None:
        self._store, self._claim = store, claim

    def attempts(self, run_id: str | None = None) -> list[Attempt]:
        run_id = run_id or self._claim.run_id
        return [a for a in self._store.attempts() if a.run_id == run_id and a.attempt < self._claim.attempt]

    def mark_abandoned(self, *, run_id: str, attempt: int, at: datetime, reason: str) -> bool:
        """Nothing to mark: claiming the run already marked every expired attempt `abandoned`."""
        return False


def execute_claim(
    store: SharedStore, batch: BatchDefinition, claim: Claim, settings: WorkerSettings, control: BatchControl
) -> RunEnd:
    """Run one claimed attempt here, renewing its lease; the result is written under its token."""
    request = _request(batch, claim, settings)
    recorder = SharedRecorder(
        store, claim, artifacts=request.paths.artifacts, max_size=settings.max_artifact_size
    )
    lost = functools.partial(_lease_lost, control, claim.run_id)
    try:
        with hold_run(request.paths, run_id=request.run_id) as held:
            workspaces = recover_leftover_worktree(request, held=held, store=_EarlierAttempts(store, claim))
            with LeaseKeeper(store, claim, on_lost=lost):
                result = run_attempt(
                    request,
                    attempt=claim.attempt,
                    control=control,
                    recorder=recorder,
                    workspaces=workspaces,
                    held=held,
                )
        return RunSummary(claim.run_id, (result,))
    except AlreadyHeldError as exc:
        # Another process of this machine holds the run: close the claim, or it would be taken over
        # (and found held again) every TTL.
        store.finish(claim, _held_result(request, claim, exc))
        return HeldRun(claim.run_id, exc)
    except LeaseLostError as exc:
        return RunError(claim.run_id, f"result not recorded: {exc}")


def _work_loop(
    store: SharedStore,
    batch: BatchDefinition,
    settings: WorkerSettings,
    control: BatchControl,
    worker_id: str,
) -> list[RunEnd]:
    """One worker thread: claim, run, repeat; wait for expiring leases while other workers hold runs."""
    owner, ends, outage_started = LeaseOwner.here(worker_id), [], None
    while not control.is_stopping:
        try:
            claim = store.claim_next(batch_id=batch.batch_id, owner=owner, ttl=settings.lease_ttl)
            store.flush_spool()  # results spooled during an outage, before their leases lapse
            finished = claim is None and store.is_batch_finished(batch.batch_id)
        except UnavailableError as exc:
            # The store's own retries gave up: keep waiting (runs in flight still finish and spool).
            outage_started = outage_started or time.monotonic()
            if time.monotonic() - outage_started > MAX_OUTAGE_SECONDS:
                raise
            log.warning("shared store unreachable, retrying: %s", exc)
            control.sleep(IDLE_POLL_SECONDS)
            continue
        outage_started = None
        if finished:
            break
        if claim is None:
            control.sleep(min(IDLE_POLL_SECONDS, settings.lease_ttl / 3))
            continue
        if claim.abandoned_attempt is not None:
            log.warning(
                "run %r: attempt %d's lease expired (its worker is gone or cut off); it is abandoned and "
                "this worker runs attempt %d",
                claim.run_id,
                claim.abandoned_attempt,
                claim.attempt,
            )
        execute = functools.partial(execute_claim, store, batch, claim, settings, control)
        end = guarded(claim.run_id, control, execute)
        ends.append(end)
        if isinstance(end, RunSummary) and end.final.outcome in RETRYABLE and batch.retries:
            _requeue(store, batch, end.final, control)
    return ends


def _requeue(store: SharedStore, batch: BatchDefinition, result: Attempt, control: BatchControl) -> None:
    """Queue a failed run again while it has retries left (any worker may take it)."""
    if control.is_stopping:
        return
    try:
        requeued = store.requeue(batch.batch_id, [result.run_id], max_attempts=batch.retries + 1)
    except UnavailableError as exc:  # the run stays finished-failed; a later batch can --retry it
        log.warning("run %r not queued for a retry: %s", result.run_id, exc)
        return
    if requeued:
        control.emit(EventKind.RETRY_SCHEDULED, result.run_id, after_attempt=result.attempt, delay_seconds=0)


def execute_batch(settings: RunSettings, control: BatchControl) -> BatchResult:
    """`run`'s batch: here with per-run SQLite, or enqueued in the shared store and worked like a worker."""
    if settings.shared_database_url is None:
        return run_batch(settings, control)
    skipped = enqueue_batch(settings)
    return work_batch(worker_settings_for_run(settings), control, skipped=skipped)


def enqueue_batch(settings: RunSettings) -> list[SkippedRun]:
    """Put a `run --database-url` batch, with its whole definition, into the shared store.

    The resume rules (--redo, --only-failed) are applied to its queue; the runs they skip are returned.
    """
    if settings.shared_database_url is None:
        raise ValueError("enqueue_batch needs the shared store's URL")
    definition = BatchDefinition(
        batch_id=settings.batch_id,
        run_ids=settings.run_ids,
        command=settings.command,
        base_sha=git.resolve_commit(settings.source_repo, settings.base_ref),
        test_command=settings.tests.command.shell if settings.tests else None,
        timeout=settings.timeout,
        retries=settings.retries,
    )
    with SharedStore.connect(settings.shared_database_url) as store:
        skipped = store.enqueue(definition, redo=settings.redo, only_failed=settings.only_failed)
    return [SkippedRun(run_id, Outcome.SKIPPED, reason) for run_id, reason in skipped]


def worker_settings_for_run(settings: RunSettings) -> WorkerSettings:
    """`run --database-url` works its own batch like a worker does."""
    if settings.shared_database_url is None:
        raise ValueError("worker_settings_for_run needs the shared store's URL")
    return WorkerSettings(
        batch_id=settings.batch_id,
        database_url=settings.shared_database_url,
        repo=settings.source_repo,
        runs_dir=settings.runs_dir,
        workers=settings.workers,
        lease_ttl=settings.lease_ttl,
        max_artifact_size=settings.max_artifact_size,
        keep_worktrees=settings.keep_worktrees,
        environ=settings.environ,
        grace=settings.grace,
        test_timeout=settings.tests.timeout if settings.tests else None,
        test_retries=settings.tests.retries if settings.tests else 1,
        fail_on_regression=settings.fail_on_regression,
    )


def work_batch(
    settings: WorkerSettings, control: BatchControl, *, skipped: Sequence[SkippedRun] = ()
) -> BatchResult:
    """Claim and execute runs of the batch with `settings.workers` threads until none remain.

    `skipped`: runs the resume rules took out of the queue; reported with the batch.
    """
    with SharedStore.connect(settings.database_url, spool_dir=settings.runs_dir / ".spool") as store:
        store.flush_spool()
        batch = store.get_batch(settings.batch_id)
        if batch is None:
            raise ConfigError(f"batch {settings.batch_id!r} is not in the shared store")
        git.ensure_commit(settings.repo, batch.base_sha)  # never run against another commit
        settings.runs_dir.mkdir(parents=True, exist_ok=True)
        git.ensure_excluded(settings.repo, settings.runs_dir)
        control.emit(
            EventKind.BATCH_STARTED,
            batch_id=batch.batch_id,
            base_sha=batch.base_sha,
            runs=len(batch.run_ids),
            workers=settings.workers,
            runs_dir=str(settings.runs_dir),
        )
        for run in skipped:
            control.emit(EventKind.RUN_SKIPPED, run.run_id, reason=run.reason)
        with ThreadPoolExecutor(max_workers=settings.workers, thread_name_prefix="worker") as pool:
            loops = [
                pool.submit(_work_loop, store, batch, settings, control, f"{slugify(settings.batch_id)}-{n}")
                for n in range(settings.workers)
            ]
            ends = [*skipped, *(end for loop in loops for end in loop.result())]
        store.flush_spool()
    return finish_batch(control, batch_id=batch.batch_id, base_sha=batch.base_sha, ends=ends)
