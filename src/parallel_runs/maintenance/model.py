"""What maintenance reports: managed worktrees, and what cleanup and recovery did to them."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from parallel_runs.core.model import Outcome
from parallel_runs.git.branches import RunRef
from parallel_runs.holders import Holder

__all__ = [
    "CleanupReport",
    "KeptRef",
    "ManagedWorktree",
    "PruneReport",
    "RecoveryReport",
    "RemovedWorktree",
    "Skipped",
    "WorktreeState",
]


class WorktreeState(StrEnum):
    """What a managed worktree is doing, as far as locks and the run's store tell."""

    RUNNING = "running"  # a live process holds its lease or lock
    FINISHED = "finished"  # its latest attempt finished (kept by --keep-worktrees)
    ORPHANED = "orphaned"  # its attempt is still `running` but the process holding it died
    STALE = "stale"  # git knows it but the directory is gone, or a directory git does not know


@dataclass(frozen=True, slots=True, kw_only=True)
class ManagedWorktree:
    """One worktree under <runs dir>/workspaces, or a worker's reused one under <runs dir>/.reuse."""

    slug: str  # a parked reused worktree's: `.reuse/<name>`, as `recover` names it
    path: Path
    state: WorktreeState
    run_id: str | None
    attempt: int | None
    status: Outcome | None  # of the latest recorded attempt
    holder: Holder | None
    age_seconds: float | None
    is_dirty: bool | None  # None when there is no worktree to look into
    branch: str | None  # None: a reused worktree parked between runs (detached)
    reused: bool = False  # a worker's worktree (--reuse-worktrees): running while its worker lives

    @property
    def is_parked(self) -> bool:
        """A reused worktree between runs: it holds nothing of any run."""
        return self.reused and self.branch is None

    def to_json(self) -> dict[str, object]:
        """A JSON-ready dict."""
        holder = self.holder
        return {
            "run_id": self.run_id,
            "slug": self.slug,
            "state": self.state.value,
            "attempt": self.attempt,
            "status": self.status.value if self.status else None,
            "holder": None
            if holder is None
            else {"host": holder.host, "pid": holder.pid, "since": holder.started_at},
            "age_seconds": None if self.age_seconds is None else round(self.age_seconds, 3),
            "dirty": self.is_dirty,
            "branch": self.branch,
            "path": str(self.path),
            "reused": self.reused,
            "parked": self.is_parked,
        }


@dataclass(frozen=True, slots=True)
class Skipped:
    """A worktree or run left alone (or that failed), and why."""

    slug: str
    run_id: str | None
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RemovedWorktree:
    """A worktree whose changes were committed to its run branch before it was removed."""

    slug: str
    run_id: str
    attempt: int  # the attempt its changes were saved under
    outcome: Outcome  # `abandoned` when that attempt's process died
    head_sha: str | None
    abandoned: tuple[int, ...]  # attempts marked `abandoned` in the store
    killed_pgid: int | None  # the dead holder's command group, if it was still running here
    branch: str


@dataclass(frozen=True, slots=True)
class CleanupReport:
    """What `cleanup` removed, left alone, and failed to remove."""

    removed: tuple[RemovedWorktree, ...]
    skipped: tuple[Skipped, ...]
    failed: tuple[Skipped, ...]
    discarded: tuple[str, ...] = ()  # dead workers' reused worktrees that held no run's files


@dataclass(frozen=True, slots=True)
class RecoveryReport:
    """What `recover` reclaimed; runs held by live processes are in `held`."""

    recovered: tuple[RemovedWorktree, ...]  # orphaned worktrees saved and removed
    reclaimed: tuple[str, ...]  # slugs (or lease files) whose dead holder's lock or lease was released
    pruned: tuple[str, ...]  # slugs whose vanished worktree git forgot, or whose empty directory went
    held: tuple[Skipped, ...]
    failed: tuple[Skipped, ...]
    discarded: tuple[str, ...] = ()  # dead workers' reused worktrees that held no run's files


@dataclass(frozen=True, slots=True)
class KeptRef:
    """A run branch or attempt ref `branches prune` left alone, and why."""

    ref: RunRef
    reason: str


@dataclass(frozen=True, slots=True)
class PruneReport:
    """What `branches prune` deleted and kept."""

    deleted: tuple[RunRef, ...]
    kept: tuple[KeptRef, ...]
