"""One claimed run on this machine: lock → save a leftover worktree → resume rules → attempts.

The store's claim decides who runs what across machines (for the shared store, with a lease the
keeper renews); the run's file locks guard this machine's worktree. Both are held for all of the
run's attempts, retries and the delay between them included.
"""

from __future__ import annotations

import functools
import logging
import socket
import time
import traceback
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from parallel_runs import git, maintenance
from parallel_runs.batch.attempt import attempt
from parallel_runs.batch.control import BatchControl
from parallel_runs.batch.effective import EffectiveBatch
from parallel_runs.batch.result import HeldRun, RunEnd, RunError, RunSummary, SkippedRun
from parallel_runs.core.batch import skip_reason
from parallel_runs.core.events import EventKind
from parallel_runs.core.model import Attempt, Outcome
from parallel_runs.core.policy import RETRYABLE
from parallel_runs.errors import AlreadyHeldError, GitError, LeaseLostError, NoSpaceError, ParallelRunsError
from parallel_runs.locks import OwnedLock, hold_run, run_locks, stale_record
from parallel_runs.store import Claim, LeaseKeeper, Store

__all__ = ["run_one"]

log = logging.getLogger(__name__)

HOLDER_POLL_SECONDS = 0.5
MIN_HOLDER_WAIT_SECONDS = 60.0


def run_one(
    store: Store,
    batch: EffectiveBatch,
    claim: Claim,
    control: BatchControl,
    *,
    slot: git.ReuseSlot | None = None,
) -> RunEnd:
    """Run one claimed run with its retries; its error becomes its RunError, and the batch goes on.

    `slot`: the worker's reused worktree (--reuse-worktrees), else each attempt gets a fresh one."""
    try:
        return _locked(store, batch, claim, control, slot)
    except ParallelRunsError as exc:
        control.emit(EventKind.RUN_ERROR, claim.run_id, message=str(exc))
        return RunError(claim.run_id, str(exc))
    except Exception as exc:  # a bug: keep the batch going, report it with its traceback
        log.debug("internal error in run %r", claim.run_id, exc_info=True)  # the CLI files the traceback
        control.emit(EventKind.RUN_ERROR, claim.run_id, message=f"internal error: {exc!r}")
        return RunError(claim.run_id, f"internal error: {exc!r}", traceback.format_exc())


def _locked(
    store: Store, batch: EffectiveBatch, claim: Claim, control: BatchControl, slot: git.ReuseSlot | None
) -> RunEnd:
    """Hold the run's locks for all its attempts; held elsewhere on this machine, it is closed as `held`."""
    paths = batch.paths(claim.slug)
    try:
        try:
            with hold_run(paths, run_id=claim.run_id) as held:
                return _holding_locks(store, batch, claim, control, held, slot=slot)
        except AlreadyHeldError:
            if claim.abandoned_attempt is None or not _old_holder_ended(store, batch, claim, control):
                raise
            with hold_run(paths, run_id=claim.run_id) as held:
                return _holding_locks(store, batch, claim, control, held, slot=slot)
    except AlreadyHeldError as held_elsewhere:
        control.emit(EventKind.RUN_HELD, claim.run_id, holder=str(held_elsewhere))
        # Closed, or a shared store would hand the run out again (and find it held again) every TTL.
        store.close_unexecuted(claim, Outcome.HELD, str(held_elsewhere))
        return HeldRun(claim.run_id, held_elsewhere)
    except LeaseLostError as exc:
        return RunError(claim.run_id, f"result not recorded: {exc}")


def _old_holder_ended(store: Store, batch: EffectiveBatch, claim: Claim, control: BatchControl) -> bool:
    """A takeover found the run's lock held on this machine: the attempt it took over is still alive
    here (paused, or cut off from the store). Wait for it to end, keeping the new lease, rather than
    closing as `held` a run that is about to finish; False if it outlives the wait."""
    lock = run_locks(batch.paths(claim.slug), run_id=claim.run_id)[1]
    deadline = time.monotonic() + max(MIN_HOLDER_WAIT_SECONDS, 10 * claim.ttl)
    log.warning("run %r: its lapsed attempt still runs on this machine; waiting for it to end", claim.run_id)
    with LeaseKeeper(store, claim) as keeper:
        while lock.is_locked():
            if time.monotonic() > deadline or keeper.lost.is_set() or not control.sleep(HOLDER_POLL_SECONDS):
                return False
    return True


def _recover_leftover_worktree(
    store: Store,
    batch: EffectiveBatch,
    claim: Claim,
    held: tuple[OwnedLock, OwnedLock],
    slot: git.ReuseSlot | None,
) -> git.RunWorktree:
    """If the run's worktree outlived its last holder (we hold its locks now), save its work first:
    at the run's own path, or in a dead worker's reused worktree."""
    paths, machine = batch.paths(claim.slug), batch.machine
    settings = batch.shared.settings if batch.shared else None
    workspaces = git.RunWorktree(repo=machine.repo, paths=paths, settings=settings)

    def save(workspace: Path | None = None, record: Mapping[str, object] | None = None) -> None:
        maintenance.recover_orphaned_worktree(
            repo=machine.repo,
            runs_dir=machine.runs_dir,
            run_id=claim.run_id,
            slug=claim.slug,
            stale_record=stale_record(held) or record,
            store=store.history(claim),
            fallback_base_sha=claim.base_sha,
            settings=settings,
            workspace=workspace,
        )

    if workspaces.exists():
        save()
    maintenance.recover_slots_of_run(machine.repo, machine.runs_dir, claim.slug, save)
    if slot is not None:
        return git.ReusedWorktree(repo=machine.repo, paths=paths, settings=settings, slot=slot)
    return workspaces


def _holding_locks(
    store: Store,
    batch: EffectiveBatch,
    claim: Claim,
    control: BatchControl,
    held: tuple[OwnedLock, OwnedLock],
    *,
    slot: git.ReuseSlot | None,
) -> RunEnd:
    try:
        workspaces = _recover_leftover_worktree(store, batch, claim, held, slot)
    except (GitError, NoSpaceError) as exc:
        # Closed, or a shared store would hand the run out again (to fail the same way) every TTL,
        # and the batch would never end. The leftover stays where it is.
        why = f"its leftover worktree could not be saved: {exc} (move it away, then run the run again)"
        store.close_unexecuted(claim, Outcome.FAILED, why)
        raise
    if control.is_stopping or control.is_halted:
        stopped = control.stop_reason or "halted on failures"
        why = f"batch stopped ({stopped}) before this run started"
        store.close_unexecuted(claim, Outcome.NOT_STARTED, why)
        control.emit(EventKind.RUN_NOT_STARTED, claim.run_id, reason=stopped)
        return SkippedRun(claim.run_id, Outcome.NOT_STARTED, f"batch stopped ({stopped})")
    # Checked under the claim and the lock, not only when the batch was queued: another batch may
    # have finished the run since.
    if reason := skip_reason(store.previous_attempt(claim), batch.definition):
        store.skip(claim, reason)
        control.emit(EventKind.RUN_SKIPPED, claim.run_id, reason=reason)
        return SkippedRun(claim.run_id, Outcome.SKIPPED, reason)
    lost = functools.partial(_lease_lost, control, claim.run_id)
    control.clear_run_stop(claim.run_id)  # a lease an earlier claim of the run lost does not stop this one
    with LeaseKeeper(store, claim, on_lost=lost, leased=store.shares_queue) as keeper:
        return _attempts(store, batch, claim, control, held=held, workspaces=workspaces, keeper=keeper)


def _lease_lost(control: BatchControl, run_id: str) -> None:
    """Another worker took the run over: stop our command, its result could not be recorded anyway."""
    log.warning("run %r: lease lost to another worker; stopping this attempt", run_id)
    control.stop_run(run_id)


def _attempts(
    store: Store,
    batch: EffectiveBatch,
    claim: Claim | None,
    control: BatchControl,
    *,
    held: tuple[OwnedLock, OwnedLock],
    workspaces: git.RunWorktree,
    keeper: LeaseKeeper,
) -> RunSummary:
    """The run's attempts: a retryable outcome gets another, after the retry delay, while retries last."""
    definition, results = batch.definition, list[Attempt]()
    while claim is not None:
        started_at = datetime.now(UTC)
        # Numbered after both the store and the branch's kept attempt refs: either may have been reset.
        at_least = git.last_attempt_ref_number(batch.machine.repo, claim.slug) + 1
        claim = store.begin_attempt(
            claim, at_least=at_least, started_at=started_at, host=socket.gethostname()
        )
        keeper.follow(claim)
        result = attempt(
            batch,
            claim,
            store=store,
            control=control,
            workspaces=workspaces,
            held=held,
            started_at=started_at,
            keeper=keeper,
        )
        results.append(result)
        # A retry is a new start too; an abandoned attempt's run went back to the queue (leases.py).
        done = control.is_stopping or control.is_halted or result.outcome is Outcome.ABANDONED
        if result.outcome not in RETRYABLE or len(results) > definition.retries or done:
            break
        control.emit(
            EventKind.RETRY_SCHEDULED,
            claim.run_id,
            after_attempt=result.attempt,
            delay_seconds=definition.retry_delay,
        )
        if not control.sleep(definition.retry_delay):
            break
        claim = store.retry(claim)
    return RunSummary(results[0].run_id, tuple(results))
