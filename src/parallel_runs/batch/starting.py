"""Starting a batch: open its store, get the repository ready, check the test gate, queue the batch
(`run`) or find it (`worker`)."""

from __future__ import annotations

import logging
import os
import socket
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from parallel_runs import git, maintenance
from parallel_runs.batch.control import BatchControl
from parallel_runs.batch.effective import EffectiveBatch
from parallel_runs.batch.pool import run_batch
from parallel_runs.batch.preflight import check_test_gate
from parallel_runs.batch.result import BatchResult, SkippedRun
from parallel_runs.config import BatchToQueue, WorkerSettings
from parallel_runs.core.batch import BatchDefinition, BatchRequest
from parallel_runs.core.durations import format_duration
from parallel_runs.core.layout import git_state_dir
from parallel_runs.core.model import Outcome
from parallel_runs.errors import ConfigError
from parallel_runs.store import Store, open_store
from parallel_runs.store.migrate import SchemaNotReady
from parallel_runs.strays import become_subreaper

__all__ = ["enqueue", "open_machine_store", "run"]

log = logging.getLogger(__name__)

BATCH_POLL_SECONDS = 1.0  # how often `worker --wait` looks for its batch


def _definition(request: BatchRequest, machine: WorkerSettings, store: Store) -> BatchDefinition:
    """What `run` asks for: base commit resolved, budget as a deadline on the store's clock."""
    deadline = None
    if request.max_batch_time is not None:
        deadline = store.now() + timedelta(seconds=request.max_batch_time)
    base_sha = git.resolve_commit(machine.repo, request.base_ref)
    _warn_about_the_base(machine.repo, base_sha, shared=store.shares_queue)
    return request.definition(base_sha=base_sha, deadline=deadline)


def _warn_about_the_base(repo: Path, base_sha: str, *, shared: bool) -> None:
    """Runs start from the base commit: say when that is not what the user may think it is."""
    if base_sha == git.resolve_commit(repo, "HEAD") and (changed := git.changed_files(repo)):
        log.warning(
            "%d changed file(s) in the source checkout are not in the base commit %s: runs start from the "
            "commit (commit them first to include them)",
            changed,
            base_sha[:12],
        )
    if shared and git.is_on_origin(repo, base_sha) is False:
        log.warning(
            "the base commit %s is not on origin: workers in other clones cannot fetch it (push it first)",
            base_sha[:12],
        )


def _wanted(
    request: BatchRequest | None,
    machine: WorkerSettings,
    store: Store,
    control: BatchControl,
    deadline: float,
) -> BatchDefinition:
    """The batch `run` asks for, or the one a `worker` finds in the store (with --wait, once it is there)."""
    if request is not None:
        return _definition(request, machine, store)
    return _wait_for_batch(store, machine, control, deadline)


def _queued(store: Store, wanted: BatchDefinition) -> tuple[BatchDefinition, list[SkippedRun]]:
    """Queue the batch `run` asked for: as the store holds it now, and the runs its resume rules skipped."""
    skipped = [SkippedRun(run_id, Outcome.SKIPPED, reason) for run_id, reason in store.enqueue(wanted)]
    definition = store.get_batch(wanted.batch_id)
    if definition is None:
        raise ConfigError(f"batch {wanted.batch_id!r} is not in the shared store")
    return definition, skipped


def _wait_for_batch(
    store: Store, machine: WorkerSettings, control: BatchControl, deadline: float
) -> BatchDefinition:
    """The batch's definition; with `worker --wait`, once it appears (machines may start first)."""
    while (definition := store.get_batch(machine.batch_id)) is None:
        if time.monotonic() >= deadline:
            waited = (
                f" within {format_duration(machine.wait)}"
                if machine.wait
                else " (worker --wait waits for it)"
            )
            raise ConfigError(f"batch {machine.batch_id!r} is not in the shared store{waited}")
        if not control.sleep(min(BATCH_POLL_SECONDS, max(0.0, deadline - time.monotonic()))):
            raise KeyboardInterrupt  # Ctrl-C while waiting: nothing was started
    return definition


def open_machine_store(machine: WorkerSettings, *, migrate: bool = False) -> Store:
    """The store the machine's settings name (`store.open_store`); the caller closes it."""
    return open_store(
        runs_dir=machine.runs_dir,
        database_url=machine.database_url,
        shared_sqlite=machine.shared_sqlite,
        max_artifact_size=machine.max_artifact_size,
        migrate=migrate,
    )


def _open(
    request: BatchRequest | None, machine: WorkerSettings, control: BatchControl, deadline: float
) -> Store:
    """The store the machine names. `run` creates or upgrades the shared schema, as `plan` does; a
    `worker` (no request) never changes it, and with --wait waits for it as for its batch
    (CONTRACTS §7)."""
    while True:
        try:
            return open_machine_store(machine, migrate=request is not None)
        except SchemaNotReady:
            if request is not None or time.monotonic() >= deadline:
                raise
            if not control.sleep(min(BATCH_POLL_SECONDS, max(0.0, deadline - time.monotonic()))):
                raise KeyboardInterrupt from None  # Ctrl-C while waiting: nothing was started


def _make_runs_dir(runs_dir: Path) -> None:
    """The runs dir exists and takes files; else a usage error (exit 2), before anything is queued."""
    try:
        runs_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=runs_dir):
            pass
    except OSError as exc:
        raise ConfigError(f"runs dir {runs_dir} cannot be used: {exc.strerror or exc}") from exc


def _prepare_repository(store: Store, plan: EffectiveBatch) -> None:
    """The base commit is here, the runs dir is git-ignored, dead holders' leftovers saved."""
    machine = plan.machine
    git.ensure_commit(machine.repo, plan.definition.base_sha)  # never run against another commit
    git.ensure_excluded(machine.repo, machine.runs_dir)
    maintenance.restore_after_killed_batches(machine.repo, machine.runs_dir)  # before the snapshot
    if store.shares_queue:  # a shared run's leftover worktree is saved when the run is next claimed
        return
    # Whatever an earlier, killed batch left behind (stale locks, orphaned worktrees) is saved first.
    for orphan in maintenance.recover(repo=machine.repo, runs_dir=machine.runs_dir).recovered:
        log.warning(
            "recovered run %r: its attempt %s's files are on %s", orphan.run_id, orphan.attempt, orphan.branch
        )


def run(
    request: BatchRequest | None,
    machine: WorkerSettings,
    control: BatchControl,
    *,
    store: Store | None = None,
) -> BatchResult:
    """The one entry point of the engine: `run` queues the batch it `request`s and works it; `worker`
    (no request) works the one the store holds.

    `store`: the store to use instead of the one the settings name (tests pass an in-memory store).
    """
    _make_runs_dir(machine.runs_dir)
    become_subreaper()  # daemons a run starts come back to us when their parents die: see strays
    # worker --wait: one budget for the schema (plan creates it) and then the batch to appear
    deadline = time.monotonic() + (0.0 if request is not None else machine.wait or 0.0)
    store = store or _open(request, machine, control, deadline)
    try:
        store.flush_spool()
        wanted = _wanted(request, machine, store, control, deadline)
        plan = EffectiveBatch(wanted, machine)
        control.grace = plan.grace
        _prepare_repository(store, plan)
        # The baseline is checked before the batch is queued: a test command that cannot judge the
        # runs leaves nothing behind in the store, and no run starts.
        if not check_test_gate(plan, control):
            return BatchResult(wanted.batch_id, wanted.base_sha, stop_reason=control.stop_reason)
        definition, skipped = _queued(store, wanted) if request is not None else (wanted, [])
        shared = git.SharedState.snapshot(machine.repo)  # after ensure_excluded added the runs dir
        # Named by this process: one process works one batch at a time, and never shares its record.
        shared.record(git_state_dir(machine.runs_dir) / f"{socket.gethostname()}-{os.getpid()}.json")
        try:
            return run_batch(store, EffectiveBatch(definition, machine, shared), control, skipped=skipped)
        finally:
            shared.forget()
    finally:
        store.close()


def enqueue(batch: BatchToQueue) -> tuple[BatchDefinition, list[SkippedRun]]:
    """Queue the batch in the store its machine names, as `run` does, without working it (`plan`).

    The test gate is left to the workers: each checks the baseline before it claims a run.
    """
    machine = batch.machine
    store = open_machine_store(machine, migrate=True)  # a fresh database works: plan creates the schema (§7)
    try:
        return _queued(store, _definition(batch.request, machine, store))
    finally:
        store.close()
