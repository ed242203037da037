"""`recover`: reclaim what dead holders left (locks, leases, running attempts, orphaned worktrees)."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

from parallel_runs import git
from parallel_runs.core.layout import RunPaths, git_state_dir
from parallel_runs.core.model import Outcome
from parallel_runs.errors import AlreadyHeldError, ParallelRunsError
from parallel_runs.locks import OwnedLock
from parallel_runs.maintenance.model import RecoveryReport, RemovedWorktree, Skipped, WorktreeState
from parallel_runs.maintenance.orphans import save_and_remove
from parallel_runs.maintenance.probing import (
    Probe,
    Record,
    describe_holder,
    holding,
    is_orphaned,
    latest_attempt,
    probe_slug,
    registered_worktrees,
    state_of,
    worktree_slugs,
)
from parallel_runs.maintenance.slots import recover_slots
from parallel_runs.store.local_index import IndexReader

__all__ = ["recover", "restore_after_killed_batches"]


def restore_after_killed_batches(repo: Path, runs_dir: Path) -> git.SaveSettings | None:
    """Put back the shared git state a killed batch working in `runs_dir` recorded; its save settings."""
    left = git.SharedState.left_by_dead_batches(repo, git_state_dir(runs_dir))
    if left is None:
        return None
    left.restore()
    return left.settings


def _recover_holding(
    repo: Path, paths: RunPaths, stale: Record | None, settings: git.SaveSettings | None
) -> RemovedWorktree | bool:
    """With the locks held: recover an orphan, else prune a vanished or empty worktree (True if pruned)."""
    workspaces = git.RunWorktree(repo=repo, paths=paths)
    is_tree = (paths.workspace / ".git").exists()
    vanished = not is_tree and not paths.workspace.exists() and workspaces.exists()  # git-registered only
    if is_orphaned(latest_attempt(paths), stale, has_worktree=is_tree or vanished):
        return save_and_remove(repo, paths, stale, settings=settings)
    if not is_tree and workspaces.exists():
        workspaces.remove()  # only a registration or an empty directory: a non-empty one raises
        return True
    return False


def _needs_recovery(probe: Probe) -> bool:
    if probe.record is not None or (probe.latest is not None and probe.latest.outcome is Outcome.RUNNING):
        return True
    return (probe.is_dir or probe.info is not None) and state_of(probe) is not WorktreeState.FINISHED


def _lock_slugs(runs_dir: Path) -> set[str]:
    locks = runs_dir / ".locks"
    return {p.name.removesuffix(".lock") for p in locks.glob("*.lock")} if locks.is_dir() else set()


def _lease_files(runs_dir: Path) -> dict[Path, str | None]:
    """Lease files that carry an owner record, and the slug of the worktree each names (if ours)."""
    found: dict[Path, str | None] = {}
    leases = runs_dir / ".workspace_leases"
    for path in sorted(leases.glob("*.lease")) if leases.is_dir() else []:
        record = OwnedLock(path, what=f"lease {path.name}").record()
        if record is None:
            continue
        workspace = record.get("workspace")
        mine = isinstance(workspace, str) and Path(workspace).parent == runs_dir / "workspaces"
        found[path] = Path(str(workspace)).name if mine else None
    return found


def _reclaim_lease_file(path: Path) -> bool:
    """Take and release a lease no slug of ours names; False when a live process holds it."""
    lease = OwnedLock(path, what=f"lease {path.name}")
    if not lease.acquire():
        return False
    lease.release()
    return True


def _recover_slug(
    repo: Path, probe: Probe, settings: git.SaveSettings | None
) -> RemovedWorktree | str | Skipped | None:
    """Recover one slug: what was removed, "pruned"/"reclaimed", why it was left (held), or None."""
    run_id = probe.latest.run_id if probe.latest else None
    if probe.is_held:
        return Skipped(probe.paths.slug, run_id, f"held by {describe_holder(probe.holder)}")
    try:
        with holding(probe.paths) as stale:
            done = _recover_holding(repo, probe.paths, stale, settings)
    except AlreadyHeldError as exc:
        return Skipped(probe.paths.slug, run_id, str(exc))
    if isinstance(done, RemovedWorktree):
        return done
    return "pruned" if done else "reclaimed" if stale is not None else None


def recover(*, repo: Path, runs_dir: Path, only_slugs: Collection[str] | None = None) -> RecoveryReport:
    """Reclaim dead holders' locks and leases, abandon their running attempts, save and remove orphans.

    A killed batch's runs may have changed the shared git config: it is put back first, and the
    orphans are saved with that batch's settings (git/shared.py).
    """
    settings = restore_after_killed_batches(repo, runs_dir)
    # First the dead workers' reused worktrees: saved to the runs they name before those runs' locks
    # and leases (whose records name them too) are looked at below.
    slots = recover_slots(repo, runs_dir, settings=settings)
    registered = registered_worktrees(repo, runs_dir)
    leases = _lease_files(runs_dir) if only_slugs is None else {}
    slugs = set(only_slugs) if only_slugs is not None else worktree_slugs(runs_dir, registered)
    if only_slugs is None:
        slugs |= _lock_slugs(runs_dir) | {slug for slug in leases.values() if slug}
    recovered, held, failed = list(slots.recovered), list(slots.held), list(slots.failed)
    tagged: dict[str, list[str]] = {"pruned": [], "reclaimed": []}
    # Every run the runs dir ever had leaves a lock file: its index, not its store, says which of
    # them finished (1.4 ms a run on each `run` start, before). A slug to recover is read again
    # from its store once its locks are held. For a few slugs named, their stores are fewer reads.
    index = IndexReader(runs_dir) if only_slugs is None else None
    if index is not None:
        index.refresh()
    for slug in sorted(slugs):
        probe = probe_slug(RunPaths(runs_dir, slug), registered, index)
        if not _needs_recovery(probe):
            continue
        try:
            done = _recover_slug(repo, probe, settings)
        except ParallelRunsError as exc:
            failed.append(Skipped(slug, probe.latest.run_id if probe.latest else None, str(exc)))
            continue
        if isinstance(done, RemovedWorktree):
            recovered.append(done)
        elif isinstance(done, Skipped):
            held.append(done)
        elif done:
            tagged[done].append(slug)
    tagged["reclaimed"] += [p.name for p, slug in leases.items() if slug is None and _reclaim_lease_file(p)]
    return RecoveryReport(
        tuple(recovered),
        tuple(tagged["reclaimed"]),
        tuple(tagged["pruned"]),
        tuple(held),
        tuple(failed),
        discarded=slots.discarded,
    )
