"""`cleanup`: save and remove the worktrees of finished runs that no live process holds."""

from __future__ import annotations

from pathlib import Path

from parallel_runs import git
from parallel_runs.core.durations import format_duration
from parallel_runs.core.layout import RunPaths
from parallel_runs.errors import AlreadyHeldError, ParallelRunsError
from parallel_runs.maintenance.listing import list_worktrees
from parallel_runs.maintenance.model import (
    CleanupReport,
    ManagedWorktree,
    RemovedWorktree,
    Skipped,
    WorktreeState,
)
from parallel_runs.maintenance.orphans import save_and_remove
from parallel_runs.maintenance.probing import describe_holder, holding
from parallel_runs.maintenance.slots import recover_slots

__all__ = ["cleanup"]


def _cleanup_refusal(tree: ManagedWorktree, older_than: float | None) -> str | None:
    if tree.state is WorktreeState.RUNNING:
        return f"running (held by {describe_holder(tree.holder)})"
    if tree.state is not WorktreeState.FINISHED:
        return f"{tree.state.value}: `parallel-runs recover` saves and removes it"
    if older_than is not None and (tree.age_seconds is None or tree.age_seconds < older_than):
        return f"younger than {format_duration(older_than)}"
    return None


def _clean_one(repo: Path, tree: ManagedWorktree, runs_dir: Path) -> RemovedWorktree | Skipped:
    paths = RunPaths(runs_dir, tree.slug)
    try:
        with holding(paths) as stale:  # held while saving and removing: a run starting now gets exit 75
            if not git.RunWorktree(repo=repo, paths=paths).exists():
                return Skipped(tree.slug, tree.run_id, "already removed")
            # Should a run have begun and died since we looked, this saves it as `abandoned`.
            return save_and_remove(repo, paths, stale)
    except AlreadyHeldError as exc:
        return Skipped(tree.slug, tree.run_id, f"running ({exc})")


def cleanup(*, repo: Path, runs_dir: Path, older_than: float | None = None) -> CleanupReport:
    """Save and remove worktrees of finished runs (only those older than `older_than` seconds, if given)."""
    slots = recover_slots(repo, runs_dir, named=False)  # a dead worker's slot naming a run: recover's
    removed: list[RemovedWorktree] = []
    skipped: list[Skipped] = []
    failed: list[Skipped] = list(slots.failed)
    for tree in list_worktrees(repo=repo, runs_dir=runs_dir, reused=False):  # reused: workers' or recover's
        if reason := _cleanup_refusal(tree, older_than):
            skipped.append(Skipped(tree.slug, tree.run_id, reason))
            continue
        try:
            done = _clean_one(repo, tree, runs_dir)
        except ParallelRunsError as exc:
            failed.append(Skipped(tree.slug, tree.run_id, str(exc)))
            continue
        if isinstance(done, Skipped):
            skipped.append(done)
        else:
            removed.append(done)
    return CleanupReport(tuple(removed), tuple(skipped), tuple(failed), discarded=slots.discarded)
