"""The seed's `ParallelRunSupervisor`: one command per run id, in parallel, as `parallel-runs run` does."""

from __future__ import annotations

import dataclasses
import os
import shlex
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

from parallel_runs import batch as engine
from parallel_runs import git
from parallel_runs.batch import BatchResult, HeldRun, RunEnd, RunError, RunSummary, SkippedRun
from parallel_runs.config import BatchToQueue, absolute_path, build_batch_to_queue, resolve_runs_dir
from parallel_runs.core.ids import check_unique_slugs, dedupe, slugify
from parallel_runs.core.layout import RunPaths
from parallel_runs.core.model import Outcome
from parallel_runs.errors import ConfigError
from parallel_runs.seed.paths import StrPath, caller_environ
from parallel_runs.seed.workspace import WorkspaceManager

__all__ = ["ParallelRunSupervisor", "SupervisorError"]


class SupervisorError(ConfigError):
    """The seed's supervisor error: a configuration the batch cannot run with."""


def _run_batch(batch: BatchToQueue) -> BatchResult:
    """The batch in a helper thread, so Ctrl-C here stops the runs (each saves its changes) first."""
    control = engine.BatchControl(grace=batch.request.grace)
    outcome: list[BatchResult | BaseException] = []

    def target() -> None:
        try:
            outcome.append(engine.run(batch.request, batch.machine, control))
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread below
            outcome.append(exc)

    thread = threading.Thread(target=target, name="parallel-runs-seed-batch")
    thread.start()
    interrupted = False
    while thread.is_alive():
        try:
            thread.join()
        except KeyboardInterrupt:  # first: stop gracefully; second: kill (BatchControl decides)
            interrupted = True
            control.request_stop("interrupted")
    if interrupted:
        raise KeyboardInterrupt
    if isinstance(outcome[0], BaseException):
        raise outcome[0]
    return outcome[0]


def _result_row(run_id: str, end: RunEnd | None, paths: RunPaths) -> dict[str, object]:
    """The seed's result dict for one run, plus outcome, branch and log_path."""
    row: dict[str, object] = {
        "run_id": run_id,
        "success": False,
        "exit_code": -1,
        "workspace": str(paths.workspace),
        # Output is streamed to run.log, never held in memory: the seed's captured streams stay empty.
        "stdout": "",
        "stderr": "",
        "error": None,
        "outcome": Outcome.NOT_STARTED.value,
        "branch": paths.branch,
        "log_path": str(paths.run_log),
    }
    if isinstance(end, RunSummary):
        final = end.final
        exit_code = final.exit_code if final.exit_code is not None else -1
        row.update(success=final.outcome.is_success, exit_code=exit_code, error=final.error)
        row.update(outcome=final.outcome.value, attempt=final.attempt)
    elif isinstance(end, SkippedRun):
        success = end.outcome.is_success
        row.update(success=success, exit_code=0 if success else -1, outcome=end.outcome.value)
        row.update(error=None if success else end.reason)
    elif isinstance(end, HeldRun):
        row.update(outcome=Outcome.HELD.value, error=str(end.error))
    elif isinstance(end, RunError):
        row.update(outcome="error", error=end.message)
    return row


class ParallelRunSupervisor:
    """The seed's supervisor: one command per run id, in parallel, each run in its own worktree."""

    def __init__(
        self,
        source_repo: StrPath,
        database_url: str | None = None,
        autonomous_runs_dir: StrPath | None = None,
        per_run_sqlite: bool = False,
        *,
        command: str | Sequence[str] | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        cwd = Path.cwd()
        self._environ = caller_environ() if environ is None else environ
        self.source_repo = git.repo_root(absolute_path(source_repo, cwd))
        self.database_url = database_url
        runs_flag = os.fspath(autonomous_runs_dir) if autonomous_runs_dir is not None else None
        self.autonomous_runs_dir = resolve_runs_dir(runs_flag, self._environ, cwd=cwd, repo=self.source_repo)
        self.per_run_sqlite = per_run_sqlite
        self.command = command

    def _settings(self, run_ids: list[str], *, workers: int, extra_args: Sequence[str]) -> BatchToQueue:
        if self.command is None:
            raise SupervisorError(
                "no command: pass command='CMD' (or an argv list); the Autopack executor is not run"
            )
        shell = self.command if isinstance(self.command, str) else None
        if shell is not None and extra_args:
            shell = f"{shell} {shlex.join(extra_args)}"
        argv = () if shell is not None else (*self.command, *extra_args)
        flags: dict[str, object] = {
            # A placeholder id that parses as itself; the ids are put in verbatim below (the seed
            # neither split them on whitespace nor expanded braces).
            "run_ids": [slugify(run_ids[0])],
            "command": shell,
            "workers": str(workers),
            "runs_dir": str(self.autonomous_runs_dir),
            "source_repo": str(self.source_repo),
            "per_run_sqlite": self.per_run_sqlite or None,
            # The seed's contract: DATABASE_URL names the store, and each run gets its store's URL there.
            "database_url": None
            if self.per_run_sqlite
            else self.database_url or self._environ.get("DATABASE_URL"),
            "command_argv": list(argv),
        }
        try:
            check_unique_slugs(run_ids)
            batch = build_batch_to_queue(flags=flags, environ=self._environ, cwd=Path.cwd())
        except ConfigError as exc:
            raise SupervisorError(str(exc)) from exc
        return BatchToQueue(
            request=dataclasses.replace(batch.request, run_ids=tuple(run_ids)),
            machine=dataclasses.replace(batch.machine, set_database_url=True),
        )

    def execute_parallel(
        self, run_ids: Sequence[str], max_workers: int = 3, extra_args: Sequence[str] | None = None
    ) -> dict[str, dict[str, object]]:
        """Run every id, `max_workers` at a time; return run id → the seed's result dict."""
        ids = dedupe(run_ids)
        if not ids:
            return {}
        batch = _run_batch(self._settings(ids, workers=max_workers, extra_args=extra_args or ()))
        ends = {end.run_id: end for end in batch.ends}
        runs_dir = self.autonomous_runs_dir
        return {
            run_id: _result_row(run_id, ends.get(run_id), RunPaths(runs_dir, slugify(run_id)))
            for run_id in ids
        }

    def execute_run(self, run_id: str, extra_args: Sequence[str] | None = None) -> dict[str, object]:
        """Run one id; return the seed's result dict."""
        return self.execute_parallel([run_id], 1, extra_args)[run_id]

    @staticmethod
    def list_worktrees(source_repo: StrPath) -> list[dict[str, object]]:
        """Managed worktrees, as WorkspaceManager.list_worktrees gives them."""
        return WorkspaceManager.list_worktrees(source_repo)

    @staticmethod
    def cleanup_all_worktrees(repo: StrPath, worktree_base: StrPath | None = None) -> int:
        """Save and remove every worktree no live process holds; return how many were removed."""
        return WorkspaceManager.cleanup_all_worktrees(repo, worktree_base)
