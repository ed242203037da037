"""A managed worktree's slug as seen from outside its locks, and holding those locks without waiting."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from parallel_runs import git
from parallel_runs.core.layout import RunPaths
from parallel_runs.core.model import Attempt, Outcome
from parallel_runs.errors import StoreError
from parallel_runs.holders import Holder
from parallel_runs.locks import hold_run, run_locks, stale_record
from parallel_runs.maintenance.model import WorktreeState
from parallel_runs.store import RunStore
from parallel_runs.store.local_index import IndexReader, store_key

__all__ = [
    "Probe",
    "Record",
    "describe_holder",
    "holding",
    "is_orphaned",
    "latest_attempt",
    "probe_slug",
    "registered_worktrees",
    "state_of",
    "worktree_slugs",
]

log = logging.getLogger(__name__)

Record = Mapping[str, object]


@dataclass(frozen=True, slots=True)
class Probe:
    """One slug as seen from outside its locks."""

    paths: RunPaths
    holder: Holder | None
    is_held: bool
    record: Record | None  # the last owner record of its lock (else lease): a dead holder's, when not held
    latest: Attempt | None
    is_dir: bool
    info: git.WorktreeInfo | None  # what git knows of it


@contextmanager
def holding(paths: RunPaths) -> Iterator[Record | None]:
    """Hold lease then lock without waiting (AlreadyHeldError if live); yield a dead holder's record."""
    with hold_run(paths) as held:
        yield stale_record(held)


def latest_attempt(paths: RunPaths, index: IndexReader | None = None) -> Attempt | None:
    """The run's last recorded attempt of this slug; None without a readable store.

    `index`: the runs dir's index, read instead of the store while the store is as indexed (a
    finished attempt's; a running one's store always differs from its line, and is read).
    """
    database = str(paths.database)
    attempts = None
    if index is not None and (key := store_key(database)) is not None:
        attempts = index.attempts(database, key)
    if attempts is None:
        if not paths.database.is_file():
            return None
        try:
            with RunStore.open(paths.database, create=False) as store:
                attempts = store.attempts()
        except StoreError as exc:
            log.warning("cannot read the store of %s: %s", paths.slug, exc)
            return None
    return max((a for a in attempts if a.slug == paths.slug), key=lambda a: a.attempt, default=None)


def is_orphaned(latest: Attempt | None, record: Record | None, *, has_worktree: bool) -> bool:
    """No live holder: is the run's last attempt (or a worktree made for an unrecorded one) dead?"""
    if latest is not None and latest.outcome is Outcome.RUNNING:
        return True
    if not has_worktree:
        return False
    attempt = record.get("attempt") if record else None
    # No attempt recorded, or the dead holder had begun a later one: it died before recording it.
    return latest is None or (type(attempt) is int and attempt > latest.attempt)


def probe_slug(
    paths: RunPaths, registered: Mapping[str, git.WorktreeInfo], index: IndexReader | None = None
) -> Probe:
    """Look at one slug's locks, store (or its line in `index`), directory and git registration
    without taking anything."""
    lease, lock = run_locks(paths)
    is_held = lock.is_locked() or lease.is_locked()
    return Probe(
        paths=paths,
        holder=(lock.holder() or lease.holder()) if is_held else None,
        is_held=is_held,
        record=lock.record() or lease.record(),
        latest=latest_attempt(paths, index),
        is_dir=paths.workspace.is_dir(),
        info=registered.get(paths.slug),
    )


def state_of(probe: Probe) -> WorktreeState:
    """What the probed worktree is doing."""
    if probe.is_held:
        return WorktreeState.RUNNING
    info = probe.info
    if info is None or info.is_prunable or not (probe.paths.workspace / ".git").exists():
        return WorktreeState.STALE
    if is_orphaned(probe.latest, probe.record, has_worktree=True):
        return WorktreeState.ORPHANED
    return WorktreeState.FINISHED


def registered_worktrees(repo: Path, runs_dir: Path) -> dict[str, git.WorktreeInfo]:
    """The managed worktrees git knows, by slug."""
    return {info.slug: info for info in git.list_managed_worktrees(repo, runs_dir)}


def worktree_slugs(runs_dir: Path, registered: Mapping[str, git.WorktreeInfo]) -> set[str]:
    """Slugs registered in git or with a directory under runs_dir/workspaces."""
    home = runs_dir / "workspaces"
    return set(registered) | ({p.name for p in home.iterdir()} if home.is_dir() else set())


def describe_holder(holder: Holder | None) -> str:
    """Who holds a lock, for messages."""
    return holder.describe() if holder else "a live process"
