"""One attempt of one run: worktree → command → tests → save changes → record → remove worktree.

Nothing removes a worktree before its changes are on the run branch. Where the attempt is
recorded (the run's SQLite store, or the shared store under a fenced claim) is the Recorder's job.
"""

from __future__ import annotations

import os
import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from parallel_runs import git
from parallel_runs.control import BatchControl
from parallel_runs.core.command import RunContext, build_environment, render_argv
from parallel_runs.core.events import EventKind
from parallel_runs.core.model import Attempt, Outcome, TestSummary
from parallel_runs.core.policy import outcome_of_command
from parallel_runs.core.request import RunRequest
from parallel_runs.files import write_json
from parallel_runs.gate import TestEvaluation, evaluate_tests
from parallel_runs.locks import OwnedLock
from parallel_runs.process import CommandResult, run_command

__all__ = ["Recorder", "run_attempt"]


class Recorder(Protocol):
    """Where an attempt is recorded: told when it begins and how it ended."""

    def begin(self, *, attempt: int, started_at: datetime, host: str, pid: int) -> None: ...

    def finish(self, result: Attempt) -> None: ...


def _now() -> datetime:
    return datetime.now(UTC)


def _count_patch_files(patch: Path) -> int | None:
    """Files changed in a patch written by save_changes (one `diff --git` header per file)."""
    try:
        with patch.open("rb") as stream:  # streamed: a patch can be larger than memory
            return sum(1 for line in stream if line.startswith(b"diff --git "))
    except FileNotFoundError:
        return None


def _tests_summary(tests: TestEvaluation | None) -> TestSummary | None:
    """What the store, result.json and the report keep of a test evaluation (ci/delta.json has it all)."""
    return None if tests is None else TestSummary.from_json(tests.to_json())


def run_attempt(
    request: RunRequest,
    *,
    attempt: int,
    control: BatchControl,
    recorder: Recorder,
    workspaces: git.WorkspaceManager,
    held: tuple[OwnedLock, OwnedLock],
) -> Attempt:
    """Worktree → command → tests → save changes → record → remove the worktree."""
    paths = request.paths
    for lock in held:
        lock.update_record(attempt=attempt, run_id=request.run_id)
    started_at, host, pid = _now(), socket.gethostname(), os.getpid()
    workspace = workspaces.create(base_sha=request.base_sha, attempt=attempt)
    recorder.begin(attempt=attempt, started_at=started_at, host=host, pid=pid)
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
        database_url=request.database_url,
    )

    def finish(
        *, outcome: Outcome, exit_code: int | None, error: str | None, tests: TestEvaluation | None = None
    ) -> Attempt:
        # The worktree's files reach the run branch before anything may remove the worktree.
        head_sha = workspaces.save_changes(
            run_id=request.run_id, attempt=attempt, outcome=outcome, base_sha=request.base_sha
        )
        result = Attempt(
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
        write_json(paths.result_json, result.to_json())
        try:
            recorder.finish(result)
        finally:
            if not request.keep_worktree:
                workspaces.remove(just_saved=True)  # the command's group is gone: nothing changed since
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

    def command_then_tests() -> tuple[CommandResult, TestEvaluation | None]:
        ended = run_command(
            render_argv(request.command, context),
            cwd=workspace,
            env=env,
            log_path=paths.run_log,
            timeout=request.timeout,
            grace=control.grace,
            on_start=started,
        )
        control.unregister(request.run_id)
        if request.tests is None or ended.exit_code is None or ended.timed_out or control.is_stopping:
            return ended, None
        return ended, evaluate_tests(
            repo=request.repo,
            paths=paths,
            workspace=workspace,
            base_sha=request.base_sha,
            spec=request.tests,
            environ=env,
            grace=control.grace,
            on_start=started,
        )

    # One guard for everything after the worktree exists: whatever breaks, the attempt is saved
    # and recorded (never left `running` with its files unsaved), then the error goes on.
    try:
        ended, tests = command_then_tests()
    except Exception as exc:
        finish(
            outcome=Outcome.FAILED, exit_code=None, error=f"parallel-runs could not finish the attempt: {exc}"
        )
        raise
    except BaseException:
        finish(outcome=Outcome.CANCELLED, exit_code=None, error="interrupted")
        raise
    finally:
        control.unregister(request.run_id)
    outcome = outcome_of_command(
        exit_code=ended.exit_code,
        timed_out=ended.timed_out,
        stopping=control.is_stopping,
        regressed=tests is not None and tests.is_regressed and request.fail_on_regression,
    )
    return finish(outcome=outcome, exit_code=ended.exit_code, error=ended.start_error, tests=tests)
