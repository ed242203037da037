"""Autopack "Parallel Runs v1" compatibility: the seed's classes and signatures on our machinery.

Where the seed and docs/CONTRACTS.md differ, the contracts win: a worktree's changes are
committed to its run branch before it is removed, every path is made absolute at once, a live
holder's lock is never removed, and the seed's Autopack executor is replaced by a command the
caller gives.
"""

from __future__ import annotations

from parallel_runs.seed.baseline import TestBaselineTracker
from parallel_runs.seed.locks import ExecutorLockManager, HeldError, WorkspaceLease
from parallel_runs.seed.paths import default_runs_dir
from parallel_runs.seed.supervisor import ParallelRunSupervisor, SupervisorError
from parallel_runs.seed.workspace import WorkspaceManager

__all__ = [
    "ExecutorLockManager",
    "HeldError",
    "ParallelRunSupervisor",
    "SupervisorError",
    "TestBaselineTracker",
    "WorkspaceLease",
    "WorkspaceManager",
    "default_runs_dir",
]
