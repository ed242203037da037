"""The seed's `WorkspaceLease` and `ExecutorLockManager`: our locks (`RunLock` is the latter) with the seed's
names, signatures and errors."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from parallel_runs import locks
from parallel_runs.config import absolute_path
from parallel_runs.core.ids import slugify
from parallel_runs.errors import AlreadyHeldError
from parallel_runs.seed.paths import StrPath, caller_environ, default_runs_dir, runs_dir_of

__all__ = ["MANAGER_LEASES", "ExecutorLockManager", "HeldError", "WorkspaceLease", "seed_held_error"]

# Leases held by a WorkspaceManager, so the seed's `with WorkspaceLease(ws)` nested in it (same thread)
# shares that hold instead of failing against it.
MANAGER_LEASES: dict[Path, tuple[locks.OwnedLock, int]] = {}


class HeldError(AlreadyHeldError, RuntimeError):
    """A live process holds the lease or lock; also a RuntimeError, which is what the seed raised."""


@contextmanager
def seed_held_error() -> Iterator[None]:
    """Re-raise an AlreadyHeldError from our locks as the seed's HeldError (same holder and message)."""
    try:
        yield
    except AlreadyHeldError as exc:
        raise HeldError(exc.what, exc.holder) from exc


class _SeedLock(locks.OwnedLock):
    """What the seed's lease and lock did differently: RuntimeError-compatible errors, bool force_unlock."""

    timeout: int

    @property
    def lock_file_path(self) -> Path:
        """The seed's name for the lock file."""
        return self.path

    def acquire_or_raise(self) -> None:
        """Take the lock or raise HeldError naming the live holder."""
        with seed_held_error():
            super().acquire_or_raise()

    def force_unlock(self) -> bool:  # type: ignore[override]  # the seed returned whether a file went
        """Remove a stale lock file (True if there was one); raise HeldError while a live process holds it."""
        existed = self.path.exists()
        with seed_held_error():
            super().force_unlock()
        return existed


class WorkspaceLease(_SeedLock, locks.WorktreeLease):
    """The seed's workspace lease; its runs dir is the one holding `workspaces/<slug>`, else the default."""

    def __init__(self, workspace_path: StrPath, lease_dir: StrPath | None = None, timeout: int = 5) -> None:
        cwd = Path.cwd()
        workspace = absolute_path(workspace_path, cwd)
        if lease_dir is not None:  # `<runs>/.workspace_leases`; another directory serves as a runs dir
            runs_dir = runs_dir_of(absolute_path(lease_dir, cwd), ".workspace_leases")
        elif workspace.parent.name == "workspaces":
            runs_dir = workspace.parent.parent
        else:
            runs_dir = default_runs_dir(caller_environ(), cwd)
        super().__init__(workspace, runs_dir=runs_dir)
        self.workspace_path = self.workspace
        self.lease_dir = self.path.parent
        self.timeout = timeout
        self._borrowed = False

    def acquire(self) -> bool:
        """Take the lease without waiting; False if a live process holds it."""
        owner = MANAGER_LEASES.get(self.path)
        if owner is not None and owner[1] == threading.get_ident() and owner[0].is_held_by_me:
            self._borrowed = True  # the seed nested this lease in its WorkspaceManager: one holder
            return True
        return super().acquire()

    def release(self) -> None:
        """Release the lease (a shared hold leaves it to its WorkspaceManager)."""
        if self._borrowed:
            self._borrowed = False
            return
        super().release()


class ExecutorLockManager(_SeedLock, locks.RunLock):
    """The seed's per-run lock, at `<runs dir>/.locks/<slug>.lock` (`a/b` and `a-b` differ)."""

    def __init__(self, run_id: str, lock_dir: StrPath | None = None, timeout: int = 5) -> None:
        cwd = Path.cwd()
        if lock_dir is not None:  # `<runs>/.locks`; another directory serves as a runs dir
            runs_dir = runs_dir_of(absolute_path(lock_dir, cwd), ".locks")
        else:
            runs_dir = default_runs_dir(caller_environ(), cwd)
        super().__init__(slugify(run_id), runs_dir=runs_dir, run_id=run_id)
        self.lock_dir = self.path.parent
        self.timeout = timeout
