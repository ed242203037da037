"""What an attempt leaves in the runs dir besides the run branch: its part of run.log, result.json,
changes.patch, and no process behind it."""

from __future__ import annotations

import json
import logging
import shlex
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

from parallel_runs import git
from parallel_runs.core.command import CommandSpec, RunContext, build_environment
from parallel_runs.core.layout import RunPaths
from parallel_runs.core.model import Attempt, Outcome
from parallel_runs.core.runlog import format_header
from parallel_runs.core.tasks import TASK_FILE_NAME, task_environment
from parallel_runs.errors import NoSpaceError, is_disk_full
from parallel_runs.files import append_log, log_size, write_json
from parallel_runs.strays import ProcessMark, StrayProcess, remove_if_unused, stop_strays

__all__ = [
    "count_patch_files",
    "run_environment",
    "start_log",
    "stop_strays_of",
    "write_patch_again",
    "write_result",
]

log = logging.getLogger(__name__)


def count_patch_files(patch: Path) -> int | None:
    """Files changed in a patch written by save_changes (one `diff --git` header per file)."""
    try:
        with patch.open("rb") as stream:  # streamed: a patch can be larger than memory
            return sum(1 for line in stream if line.startswith(b"diff --git "))
    except FileNotFoundError:
        return None


def run_environment(
    base: Mapping[str, str], context: RunContext, paths: RunPaths, task: str | None
) -> dict[str, str]:
    """The attempt's environment (core.command.build_environment) and, with a task (--tasks), its
    variables; the task is written to <runs dir>/<slug>/task.json first, outside the worktree, so
    the run cannot change what a retry or the report reads (docs/CONTRACTS.md §4)."""
    env = build_environment(base, context)
    if task is not None:
        path = paths.artifacts / TASK_FILE_NAME
        write_json(path, json.loads(task))
        env.update(task_environment(task, str(path)))
    return env


def start_log(log: Path, attempt: int, started_at: datetime, command: CommandSpec) -> int:
    """Head this attempt's part of run.log (`parallel-runs logs` splits on it); where its output begins."""
    start = log_size(log)
    header = format_header(attempt, started_at, command.shell or shlex.join(command.argv))
    append_log(log, ("\n" if start else "") + header)
    return log_size(log)


def stop_strays_of(
    paths: RunPaths, workspaces: git.RunWorktree, *, since: ProcessMark | None
) -> list[StrayProcess]:
    """No process the run started outlives it: stop what escaped its group, and say so in its log.

    With them gone, a lock file that a git the run killed left behind blocks the save no more.
    """
    strays = stop_strays(workspaces.workspace, since)
    for lock in workspaces.git_locks():
        remove_if_unused(lock, workspaces.workspace)
    if strays:
        named = ", ".join(f"pid {stray.pid} ({stray.command})" for stray in strays)
        append_log(
            paths.run_log,
            f"\nparallel-runs: stopped {len(strays)} process(es) the run left behind: {named}\n",
        )
    return strays


def write_result(path: Path, result: Attempt, *, superseded: str | None = None) -> None:
    """result.json; a full disk only costs this copy (the store gets the attempt all the same).

    `superseded`: why the store refused the result; the document then says `abandoned`, as the store does.
    """
    document = result.to_json()
    if superseded is not None:
        document |= {"status": Outcome.ABANDONED.value, "command_status": result.outcome.value}
        document |= {"superseded": superseded}
    try:
        write_json(path, document)
    except OSError as exc:
        if not is_disk_full(exc):
            raise
        log.warning("run %r: %s not written: %s", result.run_id, path, exc)


def write_patch_again(workspaces: git.RunWorktree, *, base_sha: str, head: str) -> None:
    """changes.patch from the run branch, now that the worktree's space is free again."""
    try:
        workspaces.write_patch(base_sha=base_sha, head=head)
    except NoSpaceError as exc:
        log.warning("changes.patch still not written (%s); the run branch holds every change", exc)
