"""Managed worktrees after the fact: list them, clean up finished ones, recover what dead holders left.

Nothing here touches a worktree without first holding its lease and then its run's lock (the order
execution takes them), non-blockingly: a live holder's worktree is never saved, removed or reclaimed.
"""

from __future__ import annotations

from parallel_runs.maintenance.cleaning import cleanup
from parallel_runs.maintenance.listing import list_worktrees
from parallel_runs.maintenance.model import (
    CleanupReport,
    KeptRef,
    ManagedWorktree,
    PruneReport,
    RecoveryReport,
    RemovedWorktree,
    Skipped,
    WorktreeState,
)
from parallel_runs.maintenance.orphans import recover_orphaned_worktree
from parallel_runs.maintenance.pruning import prune_branches
from parallel_runs.maintenance.recovery import recover, restore_after_killed_batches
from parallel_runs.maintenance.slots import recover_slots_of_run

__all__ = [
    "CleanupReport",
    "KeptRef",
    "ManagedWorktree",
    "PruneReport",
    "RecoveryReport",
    "RemovedWorktree",
    "Skipped",
    "WorktreeState",
    "cleanup",
    "list_worktrees",
    "prune_branches",
    "recover",
    "recover_orphaned_worktree",
    "recover_slots_of_run",
    "restore_after_killed_batches",
]
