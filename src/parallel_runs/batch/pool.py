"""The batch on this machine: worker threads that claim runs from the store until none remain.

One loop serves every store. With per-run SQLite the queue is this process's own; with the shared
store any number of processes on any machines claim from one queue, so a fast machine simply takes
more runs, and a dead worker's run is taken over when its lease expires.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

from parallel_runs import git
from parallel_runs.batch.control import BatchControl
from parallel_runs.batch.effective import EffectiveBatch
from parallel_runs.batch.one_run import run_one
from parallel_runs.batch.result import BatchResult, RunEnd, SkippedRun, outcome_of
from parallel_runs.core.events import EventKind
from parallel_runs.core.ids import slugify
from parallel_runs.core.model import Outcome
from parallel_runs.shim.client import shared_shim
from parallel_runs.store import LeaseOwner, Store, UnavailableError

__all__ = ["run_batch"]

log = logging.getLogger(__name__)

IDLE_POLL_SECONDS = 1.0  # how often an idle worker looks again for runs whose lease expired
MAX_OUTAGE_SECONDS = 300.0  # a worker gives up when the shared store stays unreachable this long


def _may_claim(store: Store, control: BatchControl) -> bool:
    # A stopped batch still settles its own queue (each run recorded `not_started`). A shared
    # queue is left to the other workers, unless the budget ran out, which binds them all.
    if control.is_halted and store.shares_queue:  # failures here halt this machine only
        return False
    return not control.is_stopping or not store.shares_queue or control.stop_reason == "budget"


class _FailureCount:
    """--halt-on-failure: counts the runs that did not succeed here, and halts at the limit."""

    def __init__(self, limit: int | None, control: BatchControl) -> None:
        self._limit, self._control, self._failed, self._lock = limit, control, 0, threading.Lock()

    def add(self, end: RunEnd) -> None:
        if self._limit is None or outcome_of(end).is_success or outcome_of(end) is Outcome.NOT_STARTED:
            return
        with self._lock:
            self._failed += 1
            reached = self._failed >= self._limit
        if reached:
            self._control.halt(failed=self._failed, limit=self._limit)


class _Outage:
    """How long the store has been unreachable; gives up after MAX_OUTAGE_SECONDS."""

    def __init__(self) -> None:
        self.since: float | None = None

    def wait(self, exc: UnavailableError, control: BatchControl) -> None:
        self.since = self.since or time.monotonic()
        if time.monotonic() - self.since > MAX_OUTAGE_SECONDS:
            raise exc
        log.warning("shared store unreachable, retrying: %s", exc)
        control.sleep(IDLE_POLL_SECONDS)


class _InFlight:
    """The runs this process is running: a lease of ours that lapsed (an outage, a pause) is never
    taken over by another of our own threads, which would then refuse our own result."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runs: set[str] = set()

    def snapshot(self) -> frozenset[str]:
        with self._lock:
            return frozenset(self._runs)

    @contextmanager
    def running(self, run_id: str) -> Iterator[None]:
        with self._lock:
            self._runs.add(run_id)
        try:
            yield
        finally:
            with self._lock:
                self._runs.discard(run_id)


def _work_loop(
    store: Store,
    batch: EffectiveBatch,
    control: BatchControl,
    worker_id: str,
    *,
    in_flight: _InFlight,
    failures: _FailureCount,
) -> list[RunEnd]:
    """One worker thread: claim, run, repeat; wait for expiring leases while other workers hold runs.
    Its commands (setup, the runs', their test phases) share one shim process."""
    with shared_shim(), _kept_worktree(batch, worker_id) as slot:
        return _claim_and_run(
            store, batch, control, worker_id, in_flight=in_flight, failures=failures, slot=slot
        )


@contextmanager
def _kept_worktree(batch: EffectiveBatch, worker_id: str) -> Iterator[git.ReuseSlot | None]:
    """--reuse-worktrees: the one worktree this worker keeps between its runs (git/reuse.py)."""
    machine = batch.machine
    if not machine.reuse_worktrees or machine.keep_worktrees:  # kept worktrees are each run's own
        yield None
        return
    slot = git.ReuseSlot.open(machine.repo, machine.runs_dir, name=worker_id, keep=machine.keep_ignored)
    try:
        yield slot
    finally:
        slot.close()


def _claim_and_run(
    store: Store,
    batch: EffectiveBatch,
    control: BatchControl,
    worker_id: str,
    *,
    in_flight: _InFlight,
    failures: _FailureCount,
    slot: git.ReuseSlot | None,
) -> list[RunEnd]:
    owner, ends, outage = LeaseOwner.here(worker_id), list[RunEnd](), _Outage()
    batch_id, ttl = batch.machine.batch_id, batch.machine.lease_ttl
    while _may_claim(store, control):
        try:
            # Spooled results first: a claim could take over the very lease a spooled result is under.
            store.flush_spool()
            claim = store.claim_next(batch_id=batch_id, owner=owner, ttl=ttl, exclude=in_flight.snapshot())
            finished = claim is None and (not store.shares_queue or store.is_batch_finished(batch_id))
        except UnavailableError as exc:  # the store's own retries gave up: runs in flight still spool
            outage.wait(exc, control)
            continue
        outage.since = None
        if finished:
            break
        if claim is None:
            control.sleep(min(IDLE_POLL_SECONDS, ttl / 3))
            continue
        if claim.abandoned_attempt is not None:
            log.warning(
                "run %r: attempt %d's lease expired (its worker is gone or cut off); it is abandoned and "
                "this worker runs the next attempt",
                claim.run_id,
                claim.abandoned_attempt,
            )
        with in_flight.running(claim.run_id):
            ends.append(run_one(store, batch, claim, control, slot=slot))
        failures.add(ends[-1])
    return ends


def _watch_for_cancel(
    store: Store, batch: EffectiveBatch, control: BatchControl, done: threading.Event
) -> None:
    """Stop the batch here within one heartbeat of `parallel-runs cancel` (from any machine)."""
    while not done.wait(batch.machine.lease_ttl / 3):
        try:
            cancelled = store.is_cancelled(batch.definition.batch_id)
        except UnavailableError:  # the claim loop reports outages; look again next time
            continue
        if cancelled:
            control.request_stop("cancelled")
            return


@contextmanager
def _stops(store: Store, batch: EffectiveBatch, control: BatchControl) -> Iterator[None]:
    """Stop the batch at its deadline (on the store's clock, so every machine stops together), or
    when it is cancelled; a private queue cannot be cancelled from elsewhere."""
    done, deadline = threading.Event(), batch.definition.deadline
    timer = None
    if deadline is not None:
        seconds = max(0.0, (deadline - store.now()).total_seconds())
        timer = threading.Timer(seconds, control.request_stop, args=("budget",))
        timer.daemon = True
        timer.start()
    watcher = threading.Thread(target=_watch_for_cancel, args=(store, batch, control, done), daemon=True)
    if store.shares_queue:
        watcher.start()
    try:
        yield
    finally:
        done.set()
        if timer is not None:
            timer.cancel()


def _whole_batch(store: Store, batch_id: str) -> dict[str, int] | None:
    """The outcomes of the whole shared batch (other workers' runs too); None for a private queue."""
    try:
        return store.outcomes(batch_id)
    except UnavailableError:
        return None


def _cancelled_elsewhere(store: Store, batch_id: str) -> str | None:
    """The stop reason when `parallel-runs cancel` stopped the shared batch before this worker saw it:
    its queue was emptied (runs recorded `not_started`) before the watcher's first look, or before we
    started."""
    try:
        return "cancelled" if store.shares_queue and store.is_cancelled(batch_id) else None
    except UnavailableError:
        return None


def _settled(ends: list[RunEnd]) -> list[RunEnd]:
    """One end per run: an abandoned attempt put its run back in the queue, so another end of the
    run here (its next claim) stands for it."""
    again = {end.run_id for end in ends if outcome_of(end) is not Outcome.ABANDONED}
    return [end for end in ends if outcome_of(end) is not Outcome.ABANDONED or end.run_id not in again]


def run_batch(
    store: Store, batch: EffectiveBatch, control: BatchControl, *, skipped: Sequence[SkippedRun] = ()
) -> BatchResult:
    """Claim and run the batch's runs with `workers` threads until none remain or the batch stops.

    `skipped`: runs the resume rules took out of the queue when it was filled; reported with the batch.
    """
    definition = batch.definition
    # More threads than runs to claim would only wait: the start line says what really runs.
    workers = max(1, min(batch.machine.workers, len(definition.run_ids) - len(skipped)))
    control.shared_batch = definition.batch_id if store.shares_queue else None
    control.emit(
        EventKind.BATCH_STARTED,
        batch_id=definition.batch_id,
        base_sha=definition.base_sha,
        runs=len(definition.run_ids),
        skipped=len(skipped),
        workers=workers,
        runs_dir=str(batch.machine.runs_dir),
    )
    for run in skipped:
        control.emit(EventKind.RUN_SKIPPED, run.run_id, reason=run.reason)
    prefix = slugify(definition.batch_id)
    with _stops(store, batch, control), ThreadPoolExecutor(workers, thread_name_prefix="worker") as pool:
        in_flight, failures = _InFlight(), _FailureCount(definition.halt_on_failure, control)
        work = functools.partial(_work_loop, store, batch, control, in_flight=in_flight, failures=failures)
        loops = [pool.submit(work, f"{prefix}-{n}") for n in range(workers)]
        ends = _settled([*skipped, *(end for loop in loops for end in loop.result())])
    store.flush_spool()
    control.close()
    stop_reason = control.stop_reason or _cancelled_elsewhere(store, definition.batch_id)
    result = BatchResult(definition.batch_id, definition.base_sha, tuple(ends), stop_reason)
    control.emit(
        EventKind.BATCH_FINISHED,
        batch_id=definition.batch_id,
        exit_code=result.exit_code,
        counts=result.counts(),
        stop_reason=stop_reason,
        whole_batch=_whole_batch(store, definition.batch_id),
    )
    return result
