"""One attempt of one run: lease → lock → worktree → command → save → record → remove → release."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from parallel_runs import git
from parallel_runs.core.command import CommandSpec, RunContext, build_environment, render_argv
from parallel_runs.core.layout import RunPaths
from parallel_runs.core.model import AttemptResult, Outcome
from parallel_runs.core.policy import outcome_of_command
from parallel_runs.errors import AlreadyHeldError
from parallel_runs.locks import ExecutorLockManager, OwnedLock, WorkspaceLease
from parallel_runs.process import kill_process_group, run_command
from parallel_runs.store import RunStore

__all__ = ["AttemptRequest", "HeldRun", "execute_attempt"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class AttemptRequest:
    """What to run for one run id; shared settings come from the batch."""

    run_id: str
    slug: str
    batch_id: str
    repo: Path
    runs_dir: Path
    base_sha: str
    command: CommandSpec
    timeout: float | None
    grace: float
    keep_worktree: bool
    environ: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class HeldRun:
    """The run was not executed here because a live process holds it."""

    run_id: str
    error: AlreadyHeldError


def _now() -> datetime:
    return datetime.now(UTC)


def _write_json_atomically(path: Path, document: Mapping[str, object]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".json.partial")
    partial.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    os.replace(partial, path)


def _count_patch_files(patch: Path) -> int | None:
    """Files changed in a patch written by save_changes (one `diff --git` header per file)."""
    try:
        with patch.open("rb") as stream:  # streamed: a patch can be larger than memory
            return sum(1 for line in stream if line.startswith(b"diff --git "))
    except FileNotFoundError:
        return None


def _kill_orphaned_command(stale_record: Mapping[str, object] | None, workspace: Path) -> None:
    """A dead holder's command may still run in the old worktree: stop it before saving its files."""
    pgid = stale_record.get("child_pgid") if stale_record else None
    if not isinstance(pgid, int):
        return
    # pgids are reused: only kill a group whose leader still works inside this run's worktree.
    try:
        cwd = Path(os.readlink(f"/proc/{pgid}/cwd"))
    except OSError:
        return
    if cwd == workspace or workspace in cwd.parents:
        log.warning("killing process group %d left running by a dead holder in %s", pgid, workspace)
        kill_process_group(pgid, signal.SIGKILL)


def _recover_orphan(
    request: AttemptRequest,
    *,
    workspaces: git.WorkspaceManager,
    store: RunStore,
    stale_record: Mapping[str, object] | None,
) -> None:
    """The worktree outlived its holder (we now hold its lease): save its work, then remove it."""
    paths = RunPaths(request.runs_dir, request.slug)
    _kill_orphaned_command(stale_record, paths.workspace)
    running = [a for a in store.attempts(request.run_id) if a.status is Outcome.RUNNING]
    attempt = running[-1].attempt if running else store.last_attempt_number(request.run_id)
    base_sha = running[-1].base_sha if running else request.base_sha
    log.warning("run %r: saving the changes of abandoned attempt %d", request.run_id, attempt)
    workspaces.save_changes(
        run_id=request.run_id, attempt=attempt, outcome=Outcome.ABANDONED, base_sha=base_sha
    )
    for record in running:
        store.mark_abandoned(run_id=request.run_id, attempt=record.attempt, at=_now(), reason="holder died")
    workspaces.remove()


def _acquire(lock: OwnedLock) -> AlreadyHeldError | None:
    try:
        lock.acquire_or_raise()
    except AlreadyHeldError as exc:
        return exc
    return None


def execute_attempt(
    request: AttemptRequest, *, on_command_start: Callable[[str, int], None] | None = None
) -> AttemptResult | HeldRun:
    """Run one attempt end to end; the worktree's changes are saved before it is removed."""
    paths = RunPaths(request.runs_dir, request.slug)
    lease = WorkspaceLease(paths.workspace, runs_dir=request.runs_dir)
    if held := _acquire(lease):
        return HeldRun(request.run_id, held)
    try:
        lock = ExecutorLockManager(request.slug, runs_dir=request.runs_dir, run_id=request.run_id)
        if held := _acquire(lock):
            return HeldRun(request.run_id, held)
        try:
            with RunStore.open(paths.database) as store:
                return _execute_holding_locks(
                    request,
                    store=store,
                    lease=lease,
                    lock=lock,
                    stale_record=lock.previous_record or lease.previous_record,
                    on_command_start=on_command_start,
                )
        finally:
            lock.release()
    finally:
        lease.release()


def _execute_holding_locks(
    request: AttemptRequest,
    *,
    store: RunStore,
    lease: OwnedLock,
    lock: OwnedLock,
    stale_record: Mapping[str, object] | None,
    on_command_start: Callable[[str, int], None] | None,
) -> AttemptResult:
    paths = RunPaths(request.runs_dir, request.slug)
    workspaces = git.WorkspaceManager(repo=request.repo, paths=paths)
    if workspaces.exists():
        _recover_orphan(request, workspaces=workspaces, store=store, stale_record=stale_record)
    attempt = (
        max(
            store.last_attempt_number(request.run_id), git.last_attempt_ref_number(request.repo, request.slug)
        )
        + 1
    )
    for held in (lease, lock):
        held.update_record(attempt=attempt, run_id=request.run_id)
    started_at = _now()
    host, pid = socket.gethostname(), os.getpid()
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
    context = RunContext(
        run_id=request.run_id,
        slug=request.slug,
        batch_id=request.batch_id,
        attempt=attempt,
        workspace=workspace,
        artifacts_dir=paths.artifacts,
        runs_dir=request.runs_dir,
        base_sha=request.base_sha,
        database_url=f"sqlite:///{paths.database}",
    )

    def started(pgid: int) -> None:
        lock.update_record(child_pgid=pgid)
        if on_command_start is not None:
            on_command_start(request.run_id, pgid)

    def finish(*, outcome: Outcome, exit_code: int | None, error: str | None) -> AttemptResult:
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
        )
        _write_json_atomically(paths.result_json, result.to_json())
        store.finish_attempt(result)
        if not request.keep_worktree:
            workspaces.remove(just_saved=True)  # the command's process group is gone: nothing changed since
        return result

    try:
        ended = run_command(
            render_argv(request.command, context),
            cwd=workspace,
            env=build_environment(request.environ, context),
            log_path=paths.run_log,
            timeout=request.timeout,
            grace=request.grace,
            on_start=started,
        )
    except BaseException:
        finish(outcome=Outcome.CANCELLED, exit_code=None, error="interrupted")
        raise
    outcome = outcome_of_command(exit_code=ended.exit_code, timed_out=ended.timed_out)
    return finish(outcome=outcome, exit_code=ended.exit_code, error=ended.start_error)
