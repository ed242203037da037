"""One attempt of one run: worktree → command → save → tests → save → record → remove (or reset) worktree.

Nothing removes a worktree before its changes are on the run branch, and an attempt recorded as
running is always recorded as ended, whatever breaks after it began. The run's change is what its
command did: it is saved before the tests, and what they write is dropped afterwards.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path

from parallel_runs import git
from parallel_runs.batch.attempt_record import Ending, Saved, ended_attempt, put_away
from parallel_runs.batch.control import BatchControl
from parallel_runs.batch.effective import EffectiveBatch
from parallel_runs.batch.run_files import (
    run_environment,
    start_log,
    stop_strays_of,
    write_result,
)
from parallel_runs.batch.setup import prepare_worktree
from parallel_runs.core.command import RunContext, render_argv
from parallel_runs.core.events import EventKind
from parallel_runs.core.model import Attempt, Outcome
from parallel_runs.core.policy import outcome_of_command
from parallel_runs.core.redaction import Redactor
from parallel_runs.core.suite import TestSpec
from parallel_runs.errors import LeaseLostError, NoSpaceError
from parallel_runs.files import append_log, log_size
from parallel_runs.gate import TestEvaluation, evaluate_tests
from parallel_runs.gate.environments import with_worktree_venv
from parallel_runs.locks import OwnedLock
from parallel_runs.process import CommandResult, run_command
from parallel_runs.store import Claim, LeaseKeeper, Store
from parallel_runs.strays import ProcessMark

__all__ = ["attempt"]

log = logging.getLogger(__name__)


class _Attempt:
    """One attempt in progress: what its steps share."""

    def __init__(
        self,
        batch: EffectiveBatch,
        claim: Claim,
        *,
        store: Store,
        control: BatchControl,
        workspaces: git.RunWorktree,
        held: tuple[OwnedLock, OwnedLock],
        started_at: datetime,
        keeper: LeaseKeeper,
    ) -> None:
        self.batch, self.claim, self.store, self.control = batch, claim, store, control
        self.workspaces, self.held, self.started_at, self.keeper = workspaces, held, started_at, keeper
        self.paths = batch.paths(claim.slug)
        self.log_from = log_size(self.paths.run_log)  # where this attempt's part of run.log begins
        self.log_start = self.log_from  # where its output begins, after the header
        # Saved before its tests; processes the command's shim found outside its process group and killed.
        self.saved_before_tests, self.strays = False, 0
        self.since = ProcessMark.now()  # before its first process: the stray scan reads only later ones

    def started(self, pgid: int) -> None:
        """A command (or test phase) started in its own process group."""
        self.held[1].update_record(child_pgid=pgid)
        self.control.register(self.claim.run_id, pgid)
        self.control.emit(EventKind.COMMAND_STARTED, self.claim.run_id, attempt=self.claim.attempt, pgid=pgid)

    def run(self, workspace: Path) -> tuple[CommandResult, TestEvaluation | None]:
        """The run's command, then (if it exited 0 and the batch goes on) its test phase."""
        batch, claim, control = self.batch, self.claim, self.control
        context = RunContext(
            run_id=claim.run_id,
            slug=claim.slug,
            batch_id=claim.batch_id,
            attempt=claim.attempt,
            workspace=workspace,
            artifacts_dir=self.paths.artifacts,
            runs_dir=batch.machine.runs_dir,
            base_sha=claim.base_sha,
            database_url=self.store.database_url(claim),
            set_database_url=batch.machine.set_database_url,
            pass_env=batch.machine.pass_env,
        )
        env = run_environment(batch.machine.environ, context, self.paths, batch.task(claim.run_id))
        self.log_start = start_log(
            self.paths.run_log, claim.attempt, self.started_at, batch.definition.command
        )
        unprepared = prepare_worktree(
            batch,
            context,
            env,
            run_log=self.paths.run_log,
            grace=control.grace,
            on_start=self.started,
            deadline=self.keeper.deadline,
            slot=self.workspaces.slot if isinstance(self.workspaces, git.ReusedWorktree) else None,
        )
        control.unregister(claim.run_id)
        if unprepared is not None:
            return unprepared, None
        # The claim is checked after setup, right before the command; past its deadline the shim refuses it.
        try:
            self.keeper.confirm()
        except LeaseLostError as lost:
            append_log(self.paths.run_log, f"\nparallel-runs: the command was not started: {lost}\n")
            return CommandResult(exit_code=None, timed_out=False, start_error=str(lost), lapsed=True), None
        ended = run_command(
            render_argv(batch.definition.command, context),
            cwd=workspace,
            env=with_worktree_venv(env, workspace),  # a venv the setup command made: the run's own Python
            log_path=self.paths.run_log,
            timeout=batch.definition.timeout,
            grace=control.grace,
            on_start=self.started,
            deadline=self.keeper.deadline,
        )
        control.unregister(claim.run_id)
        self.strays = len(ended.strays)
        spec = batch.tests
        # A command that failed, crashed or timed out has its outcome: its own output says why, and
        # the suite's minutes would only bury that under the tests' output.
        if spec is None or ended.exit_code != 0 or ended.timed_out or ended.lapsed or control.is_stopping:
            if spec is not None and ended.exit_code not in (0, None):
                note = f"\n=== parallel-runs: the command failed (exit {ended.exit_code}); no test phase\n"
                append_log(self.paths.run_log, note)
            return ended, None
        return ended, self._judged(spec, workspace=workspace, env=env, exit_code=ended.exit_code)

    def _judged(
        self, spec: TestSpec, *, workspace: Path, env: dict[str, str], exit_code: int
    ) -> TestEvaluation:
        """The run's change saved first (CONTRACTS §5), then judged; what the tests wrote is dropped after."""
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
                repo=self.batch.machine.repo,
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

    def save(self, outcome: Outcome) -> Saved:
        """Commit the worktree's files to the run branch, or say what kept them off it.

        A full disk or a broken worktree is an outcome, not a crash: the attempt is still recorded,
        and the worktree is kept unless the commit was made (with a full disk, only changes.patch is
        then missing, and it is written again once the worktree's space is free).
        """
        claim, workspace = self.claim, self.workspaces.workspace
        if workspace.is_dir() and not self.workspaces.is_worktree():
            problem = f"the run removed {workspace}/.git: its files stay there, not on the run branch"
            return Saved(None, f"worktree_broken: {problem}", committed=False)
        try:
            head = self.workspaces.save_changes(
                run_id=claim.run_id,
                attempt=claim.attempt,
                outcome=outcome,
                base_sha=claim.base_sha,
                relabel=self.saved_before_tests,
            )
        except NoSpaceError as full:
            log.warning("run %r: %s", claim.run_id, full)
            return Saved(full.saved_head, f"no_space: {full}", committed=full.saved_head is not None)
        return Saved(head, None, committed=True)

    def record(self, result: Attempt, saved: Saved) -> None:
        """Hand the attempt to the store; a result it refuses (its lease moved on) is marked superseded."""
        claim = self.claim
        try:
            self.store.keep_artifacts(claim, self.paths.artifacts, log_from=self.log_from)
            self.store.finish_attempt(claim, result)
        except LeaseLostError as lost:
            write_result(self.paths.result_json, result, superseded=str(lost))
            if saved.committed and saved.head is not None:
                self.workspaces.mark_superseded(run_id=claim.run_id, attempt=claim.attempt, head=saved.head)
            raise

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
        strays = stop_strays_of(paths, self.workspaces, since=self.since) if has_worktree else []
        restored = self.batch.shared.restore() if self.batch.shared else []
        if restored:  # saved with the config, attributes and rules as they were when the batch started
            changed = ", ".join(map(str, restored))
            append_log(paths.run_log, f"\nparallel-runs: the run changed {changed}; restored it\n")
        saved = self.save(outcome) if has_worktree else Saved(None, None, committed=False)
        if saved.problem is not None:
            outcome, error = Outcome.FAILED, saved.problem
        result = ended_attempt(
            claim,
            paths,
            Ending(outcome, exit_code, error, tests),
            redact=Redactor(self.batch.machine.secrets),
            log_start=self.log_start,
            started_at=self.started_at,
            saved=saved,
            strays=len(strays) + self.strays,
            restored=restored,
        )
        write_result(paths.result_json, result)
        try:
            self.record(result, saved)
        finally:
            put_away(self.workspaces, saved, keep=self.batch.machine.keep_worktrees, base_sha=claim.base_sha)
        details = {key: value for key, value in result.to_json().items() if key != "run_id"}
        self.control.emit(EventKind.ATTEMPT_FINISHED, claim.run_id, **details)
        return result


def attempt(
    batch: EffectiveBatch,
    claim: Claim,
    *,
    store: Store,
    control: BatchControl,
    workspaces: git.RunWorktree,
    held: tuple[OwnedLock, OwnedLock],
    started_at: datetime,
    keeper: LeaseKeeper,
) -> Attempt:
    """Run the claim's attempt (already recorded as running) in a fresh worktree; record how it ended."""
    step = _Attempt(
        batch,
        claim,
        store=store,
        control=control,
        workspaces=workspaces,
        held=held,
        started_at=started_at,
        keeper=keeper,
    )
    for lock in held:
        lock.update_record(attempt=claim.attempt, run_id=claim.run_id)
    try:
        workspace = workspaces.create(base_sha=claim.base_sha, attempt=claim.attempt)
    except Exception as exc:
        step.finish(outcome=Outcome.FAILED, exit_code=None, error=f"no worktree: {exc}", has_worktree=False)
        raise
    # `log_from`: where this attempt's part of run.log begins (the Actions log group shows only it).
    where = {"log": str(step.paths.run_log), "log_from": step.log_from}
    control.emit(EventKind.ATTEMPT_STARTED, claim.run_id, attempt=claim.attempt, **where)
    if control.is_stopping:
        error = "batch stopped before the command started"
        return step.finish(outcome=Outcome.CANCELLED, exit_code=None, error=error)
    if control.is_run_stopped(claim.run_id):  # paused past its lease: another worker has the run now
        error = "its lease was taken over before the command started"
        return step.finish(outcome=Outcome.ABANDONED, exit_code=None, error=error)
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
        regressed=tests is not None and tests.is_regressed and batch.fail_on_regression,
    )
    if ended.lapsed:  # its lease could not be renewed: the run may be another worker's by now
        outcome = Outcome.ABANDONED
    return step.finish(outcome=outcome, exit_code=ended.exit_code, error=ended.start_error, tests=tests)
