"""One attempt of one run: worktree → command → save → tests → save changes → record → remove worktree.

Nothing removes a worktree before its changes are on the run branch, and an attempt recorded as
running is always recorded as ended, whatever breaks after it began. The run's change is what its
command did: it is saved before the tests, and what they write is dropped afterwards.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

from parallel_runs import git
from parallel_runs.batch.control import BatchControl
from parallel_runs.batch.plan import BatchPlan
from parallel_runs.core.command import RunContext, build_environment, render_argv
from parallel_runs.core.events import EventKind
from parallel_runs.core.model import Attempt, Outcome, TestSummary
from parallel_runs.core.policy import outcome_of_command
from parallel_runs.core.suite import TestSpec
from parallel_runs.files import write_json
from parallel_runs.gate import TestEvaluation, evaluate_tests
from parallel_runs.locks import OwnedLock
from parallel_runs.process import CommandResult, run_command
from parallel_runs.store import Claim, Store

__all__ = ["attempt"]


def _count_patch_files(patch: Path) -> int | None:
    """Files changed in a patch written by save_changes (one `diff --git` header per file)."""
    try:
        with patch.open("rb") as stream:  # streamed: a patch can be larger than memory
            return sum(1 for line in stream if line.startswith(b"diff --git "))
    except FileNotFoundError:
        return None


class _Attempt:
    """One attempt in progress: what its steps share."""

    def __init__(
        self,
        plan: BatchPlan,
        claim: Claim,
        *,
        store: Store,
        control: BatchControl,
        workspaces: git.WorkspaceManager,
        held: tuple[OwnedLock, OwnedLock],
        started_at: datetime,
    ) -> None:
        self.plan, self.claim, self.store, self.control = plan, claim, store, control
        self.workspaces, self.held, self.started_at = workspaces, held, started_at
        self.paths = plan.paths(claim.slug)
        self.saved_before_tests = False

    def started(self, pgid: int) -> None:
        """A command (or test phase) started in its own process group."""
        self.held[1].update_record(child_pgid=pgid)
        self.control.register(self.claim.run_id, pgid)
        self.control.emit(EventKind.COMMAND_STARTED, self.claim.run_id, attempt=self.claim.attempt, pgid=pgid)

    def run(self, workspace: Path) -> tuple[CommandResult, TestEvaluation | None]:
        """The run's command, then (if it exited 0 and the batch goes on) its test phase."""
        plan, claim, control = self.plan, self.claim, self.control
        context = RunContext(
            run_id=claim.run_id,
            slug=claim.slug,
            batch_id=claim.batch_id,
            attempt=claim.attempt,
            workspace=workspace,
            artifacts_dir=self.paths.artifacts,
            runs_dir=plan.machine.runs_dir,
            base_sha=claim.base_sha,
            database_url=self.store.database_url(claim),
        )
        env = build_environment(plan.machine.environ, context)
        ended = run_command(
            render_argv(plan.definition.command, context),
            cwd=workspace,
            env=env,
            log_path=self.paths.run_log,
            timeout=plan.definition.timeout,
            grace=control.grace,
            on_start=self.started,
        )
        control.unregister(claim.run_id)
        spec = plan.tests
        if spec is None or ended.exit_code is None or ended.timed_out or control.is_stopping:
            return ended, None
        return ended, self._judged(spec, workspace=workspace, env=env, exit_code=ended.exit_code)

    def _judged(
        self, spec: TestSpec, *, workspace: Path, env: dict[str, str], exit_code: int
    ) -> TestEvaluation:
        """The run's change saved first (DESIGN §5), then judged; what the tests wrote is dropped after."""
        claim = self.claim
        saved = self.workspaces.save_changes(
            run_id=claim.run_id,
            attempt=claim.attempt,
            outcome=outcome_of_command(exit_code=exit_code, timed_out=False),
            base_sha=claim.base_sha,
        )
        self.saved_before_tests = saved is not None
        try:
            return evaluate_tests(
                repo=self.plan.machine.repo,
                paths=self.paths,
                workspace=workspace,
                base_sha=claim.base_sha,
                spec=spec,
                environ=env,
                grace=self.control.grace,
                on_start=self.started,
            )
        finally:
            if saved is not None:
                self.workspaces.restore(saved)

    def finish(
        self,
        *,
        outcome: Outcome,
        exit_code: int | None,
        error: str | None,
        tests: TestEvaluation | None = None,
        has_worktree: bool = True,
    ) -> Attempt:
        """Save the worktree's files to the run branch, record the attempt, then remove the worktree."""
        claim, paths = self.claim, self.paths
        head_sha = None
        if has_worktree:
            head_sha = self.workspaces.save_changes(
                run_id=claim.run_id,
                attempt=claim.attempt,
                outcome=outcome,
                base_sha=claim.base_sha,
                relabel=self.saved_before_tests,
            )
        result = Attempt(
            run_id=claim.run_id,
            slug=claim.slug,
            batch_id=claim.batch_id,
            attempt=claim.attempt,
            outcome=outcome,
            exit_code=exit_code,
            started_at=self.started_at,
            finished_at=datetime.now(UTC),
            base_sha=claim.base_sha,
            head_sha=head_sha,
            branch=paths.branch,
            host=claim.owner.host,
            pid=os.getpid(),
            error=error,
            changed_files=_count_patch_files(paths.changes_patch) if has_worktree else None,
            tests=None if tests is None else TestSummary.from_json(tests.to_json()),
        )
        write_json(paths.result_json, result.to_json())
        try:
            self.store.keep_artifacts(claim, paths.artifacts)
            self.store.finish_attempt(claim, result)
        finally:
            if has_worktree and not self.plan.machine.keep_worktrees:
                self.workspaces.remove(just_saved=True)  # the command's group is gone: nothing changed since
        details = {key: value for key, value in result.to_json().items() if key != "run_id"}
        self.control.emit(EventKind.ATTEMPT_FINISHED, claim.run_id, **details)
        return result


def attempt(
    plan: BatchPlan,
    claim: Claim,
    *,
    store: Store,
    control: BatchControl,
    workspaces: git.WorkspaceManager,
    held: tuple[OwnedLock, OwnedLock],
    started_at: datetime,
) -> Attempt:
    """Run the claim's attempt (already recorded as running) in a fresh worktree; record how it ended."""
    step = _Attempt(
        plan, claim, store=store, control=control, workspaces=workspaces, held=held, started_at=started_at
    )
    for lock in held:
        lock.update_record(attempt=claim.attempt, run_id=claim.run_id)
    try:
        workspace = workspaces.create(base_sha=claim.base_sha, attempt=claim.attempt)
    except Exception as exc:
        step.finish(outcome=Outcome.FAILED, exit_code=None, error=f"no worktree: {exc}", has_worktree=False)
        raise
    control.emit(EventKind.ATTEMPT_STARTED, claim.run_id, attempt=claim.attempt, log=str(step.paths.run_log))
    if control.is_stopping:
        error = "batch stopped before the command started"
        return step.finish(outcome=Outcome.CANCELLED, exit_code=None, error=error)
    # One guard for everything after the worktree exists: whatever breaks, the attempt is saved
    # and recorded (never left `running` with its files unsaved), then the error goes on.
    try:
        ended, tests = step.run(workspace)
    except Exception as exc:
        error = f"parallel-runs could not finish the attempt: {exc}"
        step.finish(outcome=Outcome.FAILED, exit_code=None, error=error)
        raise
    except BaseException:
        step.finish(outcome=Outcome.CANCELLED, exit_code=None, error="interrupted")
        raise
    finally:
        control.unregister(claim.run_id)
    outcome = outcome_of_command(
        exit_code=ended.exit_code,
        timed_out=ended.timed_out,
        stopping=control.is_stopping,
        regressed=tests is not None and tests.is_regressed and plan.fail_on_regression,
    )
    return step.finish(outcome=outcome, exit_code=ended.exit_code, error=ended.start_error, tests=tests)
