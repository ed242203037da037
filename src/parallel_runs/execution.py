"""One run on this machine: lease → lock → (recover) → attempts with retries → release.

Each attempt: worktree → command → save changes → record → remove worktree. Nothing removes a
worktree before its changes are on the run branch.
"""

from __future__ import annotations

import json
import logging
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from parallel_runs import git, maintenance
from parallel_runs.baseline import TestEvaluation, evaluate_tests
from parallel_runs.control import BatchControl
from parallel_runs.core.command import CommandSpec, RunContext, build_environment, render_argv
from parallel_runs.core.events import EventKind
from parallel_runs.core.layout import RunPaths
from parallel_runs.core.model import AttemptResult, Outcome
from parallel_runs.core.policy import RETRYABLE, outcome_of_command
from parallel_runs.core.suite import TestSpec
from parallel_runs.errors import AlreadyHeldError
from parallel_runs.locks import ExecutorLockManager, OwnedLock, WorkspaceLease
from parallel_runs.process import run_command
from parallel_runs.store import RunStore

__all__ = ["HeldRun", "RunPolicy", "RunRequest", "RunSummary", "SkippedRun", "execute_run"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class RunPolicy:
    """Retries and resume rules of a batch."""

    retries: int = 0
    retry_delay: float = 0.0
    redo: bool = False  # run again even if the latest attempt succeeded
    only_failed: bool = False  # run only runs whose latest attempt did not succeed


@dataclass(frozen=True, slots=True, kw_only=True)
class RunRequest:
    """What to run for one run id; shared settings come from the batch."""

    run_id: str
    slug: str
    batch_id: str
    repo: Path
    runs_dir: Path
    base_sha: str
    command: CommandSpec
    timeout: float | None
    keep_worktree: bool
    environ: Mapping[str, str]
    database: Path  # the SQLite store this run records into (its own, or one shared file)
    policy: RunPolicy = RunPolicy()
    tests: TestSpec | None = None  # judge each attempt by its test delta against the base commit
    fail_on_regression: bool = True

    @property
    def paths(self) -> RunPaths:
        return RunPaths(self.runs_dir, self.slug)


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
    attempts: tuple[AttemptResult, ...]

    @property
    def final(self) -> AttemptResult:
        return self.attempts[-1]


def _now() -> datetime:
    return datetime.now(UTC)


def _write_json_atomically(path: Path, document: Mapping[str, object]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".json.partial")
    partial.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    os.replace(partial, path)


def _tests_summary(tests: TestEvaluation | None) -> dict[str, object] | None:
    """What the store, result.json and the report keep of a test evaluation (ci/delta.json has it all)."""
    if tests is None:
        return None
    keys = ("status", "summary", "severity", "new_failures", "flaky", "newly_passing", "reason")
    document = tests.to_json()
    return {key: document.get(key) for key in keys}


def _count_patch_files(patch: Path) -> int | None:
    """Files changed in a patch written by save_changes (one `diff --git` header per file)."""
    try:
        with patch.open("rb") as stream:  # streamed: a patch can be larger than memory
            return sum(1 for line in stream if line.startswith(b"diff --git "))
    except FileNotFoundError:
        return None


def _acquire(lock: OwnedLock) -> AlreadyHeldError | None:
    try:
        lock.acquire_or_raise()
    except AlreadyHeldError as exc:
        return exc
    return None


def execute_run(request: RunRequest, control: BatchControl) -> RunSummary | HeldRun | SkippedRun:
    """Hold the run's lease and lock for all of its attempts; record every attempt."""
    lease = WorkspaceLease(request.paths.workspace, runs_dir=request.runs_dir)
    if held := _acquire(lease):
        control.emit(EventKind.RUN_HELD, request.run_id, holder=str(held))
        return HeldRun(request.run_id, held)
    try:
        lock = ExecutorLockManager(request.slug, runs_dir=request.runs_dir, run_id=request.run_id)
        if held := _acquire(lock):
            control.emit(EventKind.RUN_HELD, request.run_id, holder=str(held))
            return HeldRun(request.run_id, held)
        try:
            with RunStore.open(request.database) as store:
                return _run_holding_locks(request, control=control, store=store, held=(lease, lock))
        finally:
            lock.release()
    finally:
        lease.release()


def _skip_reason(request: RunRequest, store: RunStore) -> str | None:
    latest = store.latest_attempt(request.run_id)
    if latest is not None and latest.status is Outcome.SUCCEEDED and not request.policy.redo:
        return f"attempt {latest.attempt} already succeeded (use --redo to run it again)"
    if request.policy.only_failed and latest is None:
        return "never ran (--only-failed runs only runs that did not succeed)"
    return None


def _run_holding_locks(
    request: RunRequest, *, control: BatchControl, store: RunStore, held: tuple[OwnedLock, OwnedLock]
) -> RunSummary | SkippedRun:
    lease, lock = held
    workspaces = git.WorkspaceManager(repo=request.repo, paths=request.paths)
    if workspaces.exists():  # its last holder died (we hold its lease now): save its work first
        maintenance.recover_orphaned_worktree(
            repo=request.repo,
            runs_dir=request.runs_dir,
            run_id=request.run_id,
            slug=request.slug,
            stale_record=lock.previous_record or lease.previous_record,
            store=store,
            fallback_base_sha=request.base_sha,
        )
    if control.is_stopping:
        return _record_not_started(request, store=store, control=control)
    if reason := _skip_reason(request, store):
        control.emit(EventKind.RUN_SKIPPED, request.run_id, reason=reason)
        return SkippedRun(request.run_id, Outcome.SKIPPED, reason)
    results: list[AttemptResult] = []
    for _ in range(request.policy.retries + 1):
        result = _attempt(request, control=control, store=store, workspaces=workspaces, held=held)
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
    now = _now()
    store.finish_attempt(
        AttemptResult(
            run_id=request.run_id,
            slug=request.slug,
            batch_id=request.batch_id,
            attempt=store.last_attempt_number(request.run_id) + 1,
            outcome=Outcome.NOT_STARTED,
            exit_code=None,
            started_at=now,
            finished_at=now,
            base_sha=request.base_sha,
            head_sha=None,
            branch=request.paths.branch,
            host=socket.gethostname(),
            pid=os.getpid(),
            error=f"batch stopped ({control.stop_reason}) before this run started",
        )
    )
    control.emit(EventKind.RUN_NOT_STARTED, request.run_id, reason=control.stop_reason)
    return SkippedRun(request.run_id, Outcome.NOT_STARTED, f"batch stopped ({control.stop_reason})")


def _attempt(
    request: RunRequest,
    *,
    control: BatchControl,
    store: RunStore,
    workspaces: git.WorkspaceManager,
    held: tuple[OwnedLock, OwnedLock],
) -> AttemptResult:
    paths = request.paths
    attempt = max(
        store.last_attempt_number(request.run_id), git.last_attempt_ref_number(request.repo, request.slug)
    )
    attempt += 1
    for lock in held:
        lock.update_record(attempt=attempt, run_id=request.run_id)
    started_at, host, pid = _now(), socket.gethostname(), os.getpid()
    workspace = workspaces.create(base_sha=request.base_sha, attempt=attempt)
    store.begin_attempt(
        run_id=request.run_id,
        slug=request.slug,
        batch_id=request.batch_id,
        attempt=attempt,
        base_sha=request.base_sha,
        branch=paths.branch,
        host=host,
        pid=pid,
        started_at=started_at,
    )
    control.emit(EventKind.ATTEMPT_STARTED, request.run_id, attempt=attempt, log=str(paths.run_log))
    context = RunContext(
        run_id=request.run_id,
        slug=request.slug,
        batch_id=request.batch_id,
        attempt=attempt,
        workspace=workspace,
        artifacts_dir=paths.artifacts,
        runs_dir=request.runs_dir,
        base_sha=request.base_sha,
        database_url=f"sqlite:///{request.database}",
    )

    def finish(
        *, outcome: Outcome, exit_code: int | None, error: str | None, tests: TestEvaluation | None = None
    ) -> AttemptResult:
        # The worktree's files reach the run branch before anything may remove the worktree.
        head_sha = workspaces.save_changes(
            run_id=request.run_id, attempt=attempt, outcome=outcome, base_sha=request.base_sha
        )
        result = AttemptResult(
            run_id=request.run_id,
            slug=request.slug,
            batch_id=request.batch_id,
            attempt=attempt,
            outcome=outcome,
            exit_code=exit_code,
            started_at=started_at,
            finished_at=_now(),
            base_sha=request.base_sha,
            head_sha=head_sha,
            branch=paths.branch,
            host=host,
            pid=pid,
            error=error,
            changed_files=_count_patch_files(paths.changes_patch),
            tests=_tests_summary(tests),
        )
        _write_json_atomically(paths.result_json, result.to_json())
        store.finish_attempt(result)
        if not request.keep_worktree:
            workspaces.remove(just_saved=True)  # the command's process group is gone: nothing changed since
        details = {key: value for key, value in result.to_json().items() if key != "run_id"}
        control.emit(EventKind.ATTEMPT_FINISHED, request.run_id, **details)
        return result

    def started(pgid: int) -> None:
        held[1].update_record(child_pgid=pgid)
        control.register(request.run_id, pgid)
        control.emit(EventKind.COMMAND_STARTED, request.run_id, attempt=attempt, pgid=pgid)

    if control.is_stopping:
        return finish(
            outcome=Outcome.CANCELLED, exit_code=None, error="batch stopped before the command started"
        )
    env = build_environment(request.environ, context)
    try:
        ended = run_command(
            render_argv(request.command, context),
            cwd=workspace,
            env=env,
            log_path=paths.run_log,
            timeout=request.timeout,
            grace=control.grace,
            on_start=started,
        )
    except BaseException:
        finish(outcome=Outcome.CANCELLED, exit_code=None, error="interrupted")
        raise
    finally:
        control.unregister(request.run_id)
    tests = None
    if (
        request.tests is not None
        and ended.exit_code is not None
        and not ended.timed_out
        and not control.is_stopping
    ):
        try:
            tests = evaluate_tests(
                repo=request.repo,
                paths=paths,
                workspace=workspace,
                base_sha=request.base_sha,
                spec=request.tests,
                environ=env,
                on_start=started,
            )
        finally:
            control.unregister(request.run_id)
    outcome = outcome_of_command(
        exit_code=ended.exit_code,
        timed_out=ended.timed_out,
        stopping=control.is_stopping,
        regressed=tests is not None and tests.is_regressed and request.fail_on_regression,
    )
    return finish(outcome=outcome, exit_code=ended.exit_code, error=ended.start_error, tests=tests)
