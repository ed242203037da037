"""`list_worktrees`: every managed worktree, its state, holder, age and whether it is dirty."""

from __future__ import annotations

import time
from pathlib import Path

from parallel_runs import git
from parallel_runs.core.layout import RunPaths
from parallel_runs.errors import ParallelRunsError
from parallel_runs.maintenance.model import ManagedWorktree, WorktreeState
from parallel_runs.maintenance.probing import (
    Probe,
    probe_slug,
    registered_worktrees,
    state_of,
    worktree_slugs,
)

__all__ = ["list_worktrees"]


def _age(probe: Probe, now: float) -> float | None:
    try:
        return max(0.0, now - probe.paths.workspace.stat().st_mtime)
    except OSError:
        latest = probe.latest
        return None if latest is None else max(0.0, now - latest.started_at.timestamp())


def _is_dirty(repo: Path, probe: Probe, state: WorktreeState) -> bool | None:
    if state is WorktreeState.STALE:
        return None
    try:
        return git.RunWorktree(repo=repo, paths=probe.paths).is_dirty()
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
        is_dirty=_is_dirty(repo, probe, state),
        branch=probe.paths.branch,
    )


def list_worktrees(*, repo: Path, runs_dir: Path) -> list[ManagedWorktree]:
    """Every managed worktree (registered in git or on disk under runs_dir/workspaces), by slug."""
    registered = registered_worktrees(repo, runs_dir)
    now = time.time()
    slugs = sorted(worktree_slugs(runs_dir, registered))
    return [_describe(repo, probe_slug(RunPaths(runs_dir, slug), registered), now) for slug in slugs]
