"""`list_worktrees`: every managed worktree, its state, holder, age and whether it is dirty."""

from __future__ import annotations

import time
from pathlib import Path

from parallel_runs import git
from parallel_runs.core.layout import RunPaths, reuse_dir
from parallel_runs.errors import ParallelRunsError
from parallel_runs.git.reuse import slot_lock
from parallel_runs.maintenance.model import ManagedWorktree, WorktreeState
from parallel_runs.maintenance.probing import (
    Probe,
    latest_attempt,
    probe_slug,
    registered_worktrees,
    state_of,
    worktree_slugs,
)
from parallel_runs.maintenance.slots import slot_run

__all__ = ["list_worktrees"]


def _age_of(now: float, *paths: Path) -> float | None:
    """Since the first of `paths` that is there was last changed (a worker may remove them as we look)."""
    for path in paths:
        try:
            return max(0.0, now - path.stat().st_mtime)
        except OSError:
            continue
    return None


def _age(probe: Probe, now: float) -> float | None:
    age, latest = _age_of(now, probe.paths.workspace), probe.latest
    return age if age is not None or latest is None else max(0.0, now - latest.started_at.timestamp())


def _is_dirty(
    repo: Path, paths: RunPaths, state: WorktreeState, workspace: Path | None = None
) -> bool | None:
    if state is WorktreeState.STALE:
        return None
    try:
        return git.RunWorktree(repo=repo, paths=paths, workspace=workspace).is_dirty()
    except ParallelRunsError:
        return None


def _describe(repo: Path, probe: Probe, now: float) -> ManagedWorktree:
    latest, record = probe.latest, probe.record or {}
    attempts = [a for a in (latest.attempt if latest else None, record.get("attempt")) if type(a) is int]
    state = state_of(probe)
    record_run_id = record.get("run_id")
    return ManagedWorktree(
        slug=probe.paths.slug,
        path=probe.paths.workspace,
        state=state,
        run_id=latest.run_id if latest else record_run_id if isinstance(record_run_id, str) else None,
        attempt=max(attempts, default=None),
        status=latest.outcome if latest else None,
        holder=probe.holder,
        age_seconds=_age(probe, now),
        is_dirty=_is_dirty(repo, probe.paths, state),
        branch=probe.paths.branch,
    )


def _describe_slot(repo: Path, runs_dir: Path, lock_file: Path, now: float) -> ManagedWorktree:
    """A worker's reused worktree: the run its lock's record names (none: parked between runs)."""
    path = lock_file.with_suffix("")
    lock = slot_lock(path)
    is_held, record = lock.is_locked(), lock.record() or {}
    slug = slot_run(record)
    # A dead worker's slot is `recover`'s (saved to the run it names, else discarded), as an orphan is.
    is_tree = (path / ".git").exists()
    state = WorktreeState.RUNNING if is_held else WorktreeState.ORPHANED if is_tree else WorktreeState.STALE
    paths = RunPaths(runs_dir, slug or f"{reuse_dir(runs_dir).name}/{path.name}")
    latest = latest_attempt(paths) if slug else None
    attempt = record.get("attempt") if slug else None
    return ManagedWorktree(
        slug=paths.slug,
        path=path,
        state=state,
        run_id=latest.run_id if latest else None,
        attempt=attempt if type(attempt) is int else None,
        status=latest.outcome if latest else None,
        holder=lock.holder() if is_held else None,
        age_seconds=_age_of(now, path, lock_file),
        is_dirty=_is_dirty(repo, paths, state, workspace=path) if is_tree else None,
        branch=paths.branch if slug else None,
        reused=True,
    )


def list_worktrees(*, repo: Path, runs_dir: Path, reused: bool = True) -> list[ManagedWorktree]:
    """Every managed worktree (registered in git or on disk under runs_dir/workspaces), by slug, then
    (`reused`) the workers' reused worktrees under runs_dir/.reuse, by name."""
    registered = registered_worktrees(repo, runs_dir)
    now = time.time()
    slugs = sorted(worktree_slugs(runs_dir, registered))
    trees = [_describe(repo, probe_slug(RunPaths(runs_dir, slug), registered), now) for slug in slugs]
    home = reuse_dir(runs_dir)
    if reused and home.is_dir():
        trees += [_describe_slot(repo, runs_dir, lock, now) for lock in sorted(home.glob("*.lock"))]
    return trees
