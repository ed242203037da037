"""Saving a worktree its holder left to its run branch (as `abandoned` if it died), then removing it."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from parallel_runs import git
from parallel_runs.core.layout import RunPaths
from parallel_runs.core.model import Attempt, Outcome
from parallel_runs.maintenance.model import RemovedWorktree
from parallel_runs.maintenance.probing import Record, latest_attempt
from parallel_runs.process import signal_run
from parallel_runs.store import AttemptHistory, RunStore
from parallel_runs.strays import remove_if_unused, stop_strays

__all__ = ["recover_orphaned_worktree", "save_and_remove"]

log = logging.getLogger(__name__)


def _now() -> datetime:
    return datetime.now(UTC)


def _kill_orphaned_command(stale_record: Record | None, workspace: Path) -> int | None:
    """A dead holder's command may still run in the old worktree: stop it before saving its files."""
    pgid = stale_record.get("child_pgid") if stale_record else None
    host = stale_record.get("host") if stale_record else None
    if type(pgid) is not int or (isinstance(host, str) and host != socket.gethostname()):
        return None
    # pgids are reused: only kill a group whose leader still works inside this run's worktree.
    try:
        cwd = Path(os.readlink(f"/proc/{pgid}/cwd"))
    except OSError:
        return None
    if cwd != workspace and workspace not in cwd.parents:
        return None
    log.warning("killing process group %d left running by a dead holder in %s", pgid, workspace)
    return pgid if signal_run(pgid, hard=True) else None  # the shim kills its whole tree


def _run_id_of(store: AttemptHistory, slug: str, stale_record: Record | None) -> str:
    known = [a.run_id for a in store.attempts() if a.slug == slug]
    named = stale_record.get("run_id") if stale_record else None
    return known[-1] if known else named if isinstance(named, str) else slug


@dataclass(frozen=True, slots=True)
class _Leftover:
    attempt: int
    outcome: Outcome
    base_sha: str
    running: tuple[Attempt, ...]
    saved_head: str | None = None  # what the attempt's own save committed, when it finished


def _leftover(
    store: AttemptHistory, run_id: str, stale_record: Record | None, fallback_base_sha: str
) -> _Leftover:
    """Which attempt left the worktree behind, and how it ended: abandoned unless recorded as finished."""
    attempts = store.attempts(run_id)
    running = tuple(a for a in attempts if a.outcome is Outcome.RUNNING)
    if running:
        return _Leftover(running[-1].attempt, Outcome.ABANDONED, running[-1].base_sha, running)
    begun = stale_record.get("attempt") if stale_record else None
    begun = begun if type(begun) is int else 0  # a dead holder may have begun an attempt it never recorded
    if attempts and attempts[-1].attempt >= begun:  # kept after its attempt finished
        latest = attempts[-1]
        return _Leftover(latest.attempt, latest.outcome, latest.base_sha, (), saved_head=latest.head_sha)
    return _Leftover(begun, Outcome.ABANDONED, fallback_base_sha, ())


def recover_orphaned_worktree(
    *,
    repo: Path,
    runs_dir: Path,
    run_id: str | None,
    slug: str,
    stale_record: Mapping[str, object] | None,
    store: AttemptHistory,
    fallback_base_sha: str,
    settings: git.SaveSettings | None = None,
    workspace: Path | None = None,
) -> RemovedWorktree:
    """Save a leftover worktree (as `abandoned` if its attempt died, marked so in the store) and remove it.

    The caller holds the run's lease and lock; `stale_record` is the dead holder's record, if any.
    `workspace`: where the worktree is when not at the run's own path (a dead worker's reused one).
    """
    paths = RunPaths(runs_dir, slug)
    workspaces = git.RunWorktree(repo=repo, paths=paths, settings=settings, workspace=workspace)
    # Before anything that can fail: the dead holder's command and daemons must not outlive it.
    killed = _kill_orphaned_command(stale_record, workspaces.workspace)
    stop_strays(workspaces.workspace)
    run_id = run_id if run_id is not None else _run_id_of(store, slug, stale_record)
    left = _leftover(store, run_id, stale_record, fallback_base_sha)
    for lock in workspaces.git_locks():  # its git died mid-write: the lock would block the save
        remove_if_unused(lock, workspaces.workspace)
    level = logging.WARNING if left.outcome is Outcome.ABANDONED else logging.INFO
    log.log(level, "run %r: saving the worktree of attempt %d as %s", run_id, left.attempt, left.outcome)
    head = workspaces.save_changes(
        run_id=run_id, attempt=left.attempt, outcome=left.outcome, base_sha=left.base_sha
    )
    if head is not None and left.saved_head is not None:  # a kept worktree's branch reset behind its save
        git.keep_unless_contained(repo, slug=slug, tip=left.saved_head, head=head, attempt=left.attempt)
    abandoned = tuple(
        a.attempt
        for a in left.running
        if store.mark_abandoned(run_id=run_id, attempt=a.attempt, at=_now(), reason="holder died")
    )
    workspaces.remove()  # not forced: git refuses anything written after the save
    return RemovedWorktree(
        slug=slug,
        run_id=run_id,
        attempt=left.attempt,
        outcome=left.outcome,
        head_sha=head,
        abandoned=abandoned,
        killed_pgid=killed,
        branch=paths.branch,
    )


def save_and_remove(
    repo: Path,
    paths: RunPaths,
    stale: Record | None,
    *,
    settings: git.SaveSettings | None = None,
    workspace: Path | None = None,
) -> RemovedWorktree:
    """With the run's lease and lock held: save the worktree (at `workspace` if not at the run's own
    path) to its branch, then remove it."""
    latest = latest_attempt(paths)
    workspace = workspace or paths.workspace
    base = (
        latest.base_sha
        if latest
        else git.resolve_commit(workspace if (workspace / ".git").exists() else repo, "HEAD")
    )
    with RunStore.open(paths.database) as store:
        return recover_orphaned_worktree(
            repo=repo,
            runs_dir=paths.runs_dir,
            run_id=latest.run_id if latest else None,
            slug=paths.slug,
            stale_record=stale,
            store=store,
            fallback_base_sha=base,
            settings=settings,
            workspace=workspace,
        )
