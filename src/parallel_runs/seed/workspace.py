"""The seed's `WorkspaceManager`: a run's worktree on its run branch, leased in use, saved before removal."""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

from parallel_runs import git, locks, maintenance
from parallel_runs.core.ids import is_valid_slug, slugify
from parallel_runs.core.layout import RunPaths
from parallel_runs.core.model import Outcome
from parallel_runs.errors import ParallelRunsError
from parallel_runs.seed.locks import MANAGER_LEASES, seed_held_error
from parallel_runs.seed.paths import StrPath, caller_environ, locate
from parallel_runs.store import RunStore

__all__ = ["WorkspaceManager"]

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, slots=True)
class _Paths(RunPaths):
    """A run's paths with its worktree under the seed's `worktree_base`."""

    base: Path

    @property
    def workspace(self) -> Path:
        return self.base / self.slug


class WorkspaceManager:
    """The seed's worktree of one run, on branch parallel-runs/<slug>: leased in use, saved before removal."""

    def __init__(
        self,
        run_id: str,
        source_repo: StrPath | None = None,
        worktree_base: StrPath | None = None,
        cleanup_on_exit: bool = True,
        *,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        env = caller_environ() if environ is None else environ
        self.run_id = run_id
        self.slug = slugify(run_id)
        self.source_repo, self.runs_dir, self.worktree_base = locate(source_repo, worktree_base, env)
        self.cleanup_on_exit = cleanup_on_exit
        self._paths = _Paths(self.runs_dir, self.slug, self.worktree_base)
        self.worktree_path = self._paths.workspace
        self.branch = self._paths.branch
        self.created = False
        self._worktree = git.RunWorktree(repo=self.source_repo, paths=self._paths)
        self._lease = locks.WorktreeLease(self.worktree_path, runs_dir=self.runs_dir)
        self._base_sha: str | None = None
        self._attempt = 0

    def _hold_lease(self) -> None:
        if self._lease.is_held_by_me:
            return
        with seed_held_error():
            self._lease.acquire_or_raise()
        MANAGER_LEASES[self._lease.path] = (self._lease, threading.get_ident())

    def _release_lease(self) -> None:
        if self._lease.is_held_by_me:
            MANAGER_LEASES.pop(self._lease.path, None)
            self._lease.release()

    def _recorded(self) -> tuple[int, str | None]:
        """The last attempt the run's store knows and its base commit; (0, None) without a store."""
        if not self._paths.database.is_file():
            return 0, None
        with RunStore.open(self._paths.database, create=False) as store:
            last = max(store.attempts(), key=lambda record: record.attempt, default=None)
        return (last.attempt, last.base_sha) if last else (0, None)

    def create_worktree(self, branch: str | None = None) -> Path:
        """Check out `branch` (default HEAD) in a new worktree on the run branch; lease it until removal."""
        self._hold_lease()  # raises HeldError before anything is touched
        try:
            if self._worktree.exists():
                logger.warning("%s already exists: saving its changes and removing it", self.worktree_path)
                self._save(Outcome.ABANDONED)
                self._worktree.remove()
            base_sha = git.resolve_commit(self.source_repo, branch or "HEAD")
            for directory in (self.runs_dir, self.worktree_base):
                directory.mkdir(parents=True, exist_ok=True)
                git.ensure_excluded(self.source_repo, directory)
            last = max(self._recorded()[0], git.last_attempt_ref_number(self.source_repo, self.slug))
            self._worktree.create(base_sha=base_sha, attempt=last + 1)
        except BaseException:
            self._release_lease()
            raise
        self._base_sha, self._attempt, self.created = base_sha, last + 1, True
        return self.worktree_path

    def _save(self, outcome: Outcome) -> None:
        if not (self.worktree_path / ".git").exists():
            return
        attempt, base_sha = (self._attempt, self._base_sha) if self._base_sha else self._recorded()
        if base_sha is None:  # made by nobody we know of: its own HEAD is the best base there is
            base_sha = git.resolve_commit(self.worktree_path, "HEAD")
        self._worktree.save_changes(
            run_id=self.run_id, attempt=max(attempt, 1), outcome=outcome, base_sha=base_sha
        )

    def _close(self, outcome: Outcome) -> None:
        """Save, then remove the worktree, holding its lease; release the lease in any case."""
        try:
            if self._worktree.exists():
                self._hold_lease()
                self._save(outcome)
                self._worktree.remove()  # not forced: git refuses anything written after the save
            self.created = False
        finally:
            self._release_lease()

    def remove_worktree(self, force: bool = False, *, outcome: Outcome = Outcome.SUCCEEDED) -> bool:
        """Commit the worktree's changes to the run branch, then remove it; False if it could not be.

        `force` is accepted for the seed's callers: nothing unsaved is ever discarded.
        """
        try:
            self._close(outcome)
        except ParallelRunsError as exc:
            logger.warning("not removing %s: %s", self.worktree_path, exc)
            return False
        return True

    def __enter__(self) -> Path:
        return self.create_worktree()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if not self.cleanup_on_exit:
            self._release_lease()
            return
        outcome = Outcome.SUCCEEDED if exc_type is None else Outcome.FAILED
        if exc_type is not None and issubclass(exc_type, KeyboardInterrupt):
            outcome = Outcome.CANCELLED
        try:
            self._close(outcome)
        except ParallelRunsError:
            if exc_type is None:
                raise
            logger.warning("could not save and remove %s", self.worktree_path, exc_info=True)

    @staticmethod
    def list_worktrees(repo: StrPath | None = None) -> list[dict[str, object]]:
        """Managed worktrees as the seed's dicts (path, commit, branch or detached) plus slug and locked."""
        root, runs_dir, _ = locate(repo, None, caller_environ())
        rows: list[dict[str, object]] = []
        for info in git.list_managed_worktrees(root, runs_dir):
            lease = locks.WorktreeLease(runs_dir / "workspaces" / info.slug, runs_dir=runs_dir)
            row: dict[str, object] = {"path": str(info.path), "slug": info.slug, "locked": lease.is_locked()}
            if info.head:
                row["commit"] = info.head
            if info.branch:
                row["branch"] = f"refs/heads/{info.branch}"
            else:
                row["detached"] = True
            rows.append(row)
        return rows

    @staticmethod
    def cleanup_all_worktrees(repo: StrPath | None = None, worktree_base: StrPath | None = None) -> int:
        """Save and remove every worktree no live process holds; return how many were removed."""
        root, runs_dir, base = locate(repo, worktree_base, caller_environ())
        if base == runs_dir / "workspaces":  # our layout: maintenance also settles the runs' records
            recovered = maintenance.recover(repo=root, runs_dir=runs_dir).recovered
            return len(recovered) + len(maintenance.cleanup(repo=root, runs_dir=runs_dir).removed)
        count = 0
        for entry in sorted(base.iterdir()) if base.is_dir() else []:
            if entry.is_dir() and is_valid_slug(entry.name) and slugify(entry.name) == entry.name:
                manager = WorkspaceManager(entry.name, source_repo=root, worktree_base=base)
                count += manager.remove_worktree(outcome=Outcome.ABANDONED)
        return count
