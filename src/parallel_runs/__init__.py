"""parallel-runs: many independent runs against one git repository, each in its own worktree."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from parallel_runs.seed import (
        ExecutorLockManager,
        ParallelRunSupervisor,
        WorkspaceLease,
        WorkspaceManager,
    )

# The seed's (Autopack "Parallel Runs v1") public names, so its users can move over unchanged.
__all__ = ["ExecutorLockManager", "ParallelRunSupervisor", "WorkspaceLease", "WorkspaceManager"]
__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    # Loaded on first use, so `import parallel_runs.core.ids` stays free of git, SQLAlchemy and the rest.
    if name in __all__:
        from parallel_runs import seed  # noqa: PLC0415 - deferred on purpose, see above

        return getattr(seed, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
