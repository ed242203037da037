"""parallel-runs: many independent runs against one git repository, each in its own worktree."""

from __future__ import annotations

import importlib

# typing.TYPE_CHECKING without importing typing (some 5 ms): `parallel-runs --help` starts here too.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from parallel_runs.seed import (
        ExecutorLockManager,
        ParallelRunSupervisor,
        TestBaselineTracker,
        WorkspaceLease,
        WorkspaceManager,
    )

# The seed's (Autopack "Parallel Runs v1") public names, so its users can move over unchanged.
__all__ = [
    "ExecutorLockManager",
    "ParallelRunSupervisor",
    "TestBaselineTracker",
    "WorkspaceLease",
    "WorkspaceManager",
]
__version__ = "0.1.0"

_HOMES = dict.fromkeys(__all__, "parallel_runs.seed")


def __getattr__(name: str) -> object:
    # Loaded on first use, so `import parallel_runs.core.ids` stays free of git, SQLAlchemy and the rest.
    if name in _HOMES:
        return getattr(importlib.import_module(_HOMES[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
