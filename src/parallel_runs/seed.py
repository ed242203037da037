"""Autopack "Parallel Runs v1" compatibility: the seed's classes and signatures on our machinery.

Where the seed and DESIGN differ, DESIGN wins: a worktree's changes are committed to its run branch
before it is removed, every path is made absolute at once, a live holder's lock is never removed, and
the seed's Autopack executor is replaced by a command the caller gives.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shlex
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

from parallel_runs import git, locks, maintenance
from parallel_runs.config import RunSettings, build_run_settings, resolve_runs_dir
from parallel_runs.control import BatchControl
from parallel_runs.core.ids import dedupe, is_valid_slug, slugify
from parallel_runs.core.layout import RunPaths
from parallel_runs.core.model import Outcome
from parallel_runs.errors import AlreadyHeldError, ConfigError, GitError, ParallelRunsError
from parallel_runs.execution import HeldRun, RunSummary, SkippedRun
from parallel_runs.store import RunStore
from parallel_runs.supervisor import BatchResult, RunEnd, RunError, run_batch

__all__ = [
    "ExecutorLockManager",
    "HeldError",
    "ParallelRunSupervisor",
    "SupervisorError",
    "WorkspaceLease",
    "WorkspaceManager",
    "default_runs_dir",
]

logger = logging.getLogger(__name__)

StrPath = str | os.PathLike[str]
# Leases held by a WorkspaceManager, so the seed's `with WorkspaceLease(ws)` nested in it (same thread)
# shares that hold instead of failing against it.
_MANAGER_LEASES: dict[Path, tuple[locks.OwnedLock, int]] = {}


class HeldError(AlreadyHeldError, RuntimeError):
    """A live process holds the lease or lock; also a RuntimeError, which is what the seed raised."""


class SupervisorError(ConfigError):
    """The seed's supervisor error: a configuration the batch cannot run with."""


def _caller_environ() -> Mapping[str, str]:
    # These classes are entry points, like the CLI: seed callers configure them through the
    # environment (AUTONOMOUS_RUNS_DIR), so os.environ is read here and passed on explicitly.
    return os.environ


def _absolute(path: StrPath, cwd: Path) -> Path:
    """Seed paths were relative to wherever the process stood when used: pin them now (DESIGN §1)."""
    return Path(os.path.normpath(cwd / os.path.expanduser(os.fspath(path))))


def default_runs_dir(environ: Mapping[str, str], cwd: Path) -> Path:
    """The runs dir when none is named: the environment's, else <repo around cwd>/.autonomous_runs."""
    try:
        repo = git.repo_root(cwd)
    except GitError:
        repo = cwd  # the seed's default: .autonomous_runs in the working directory
    return resolve_runs_dir(None, environ, cwd=cwd, repo=repo)


def _runs_dir_of(directory: Path, name: str) -> Path:
    """`<runs>/<name>` → `<runs>`; any other directory is itself taken as the runs dir."""
    return directory.parent if directory.name == name else directory


class _SeedLock(locks.OwnedLock):
    """What the seed's lease and lock did differently: RuntimeError-compatible errors, bool force_unlock."""

    timeout: int

    @property
    def lock_file_path(self) -> Path:
        """The seed's name for the lock file."""
        return self.path

    def acquire_or_raise(self) -> None:
        """Take the lock or raise HeldError naming the live holder."""
        if not self.acquire():
            raise HeldError(self.what, self.holder())

    def force_unlock(self) -> bool:  # type: ignore[override]  # the seed returned whether a file went
        """Remove a stale lock file (True if there was one); raise HeldError while a live process holds it."""
        existed = self.path.exists()
        try:
            super().force_unlock()
        except AlreadyHeldError as exc:
            raise HeldError(exc.what, exc.holder) from exc
        return existed


class WorkspaceLease(_SeedLock, locks.WorkspaceLease):
    """The seed's workspace lease; its runs dir is the one holding `workspaces/<slug>`, else the default."""

    def __init__(self, workspace_path: StrPath, lease_dir: StrPath | None = None, timeout: int = 5) -> None:
        cwd = Path.cwd()
        workspace = _absolute(workspace_path, cwd)
        if lease_dir is not None:  # `<runs>/.workspace_leases`; another directory serves as a runs dir
            runs_dir = _runs_dir_of(_absolute(lease_dir, cwd), ".workspace_leases")
        elif workspace.parent.name == "workspaces":
            runs_dir = workspace.parent.parent
        else:
            runs_dir = default_runs_dir(_caller_environ(), cwd)
        super().__init__(workspace, runs_dir=runs_dir)
        self.workspace_path = self.workspace
        self.lease_dir = self.path.parent
        self.timeout = timeout
        self._borrowed = False

    def acquire(self) -> bool:
        """Take the lease without waiting; False if a live process holds it."""
        owner = _MANAGER_LEASES.get(self.path)
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


class ExecutorLockManager(_SeedLock, locks.ExecutorLockManager):
    """The seed's per-run lock, at `<runs dir>/.locks/<slug>.lock` (`a/b` and `a-b` differ)."""

    def __init__(self, run_id: str, lock_dir: StrPath | None = None, timeout: int = 5) -> None:
        cwd = Path.cwd()
        if lock_dir is not None:  # `<runs>/.locks`; another directory serves as a runs dir
            runs_dir = _runs_dir_of(_absolute(lock_dir, cwd), ".locks")
        else:
            runs_dir = default_runs_dir(_caller_environ(), cwd)
        super().__init__(slugify(run_id), runs_dir=runs_dir, run_id=run_id)
        self.lock_dir = self.path.parent
        self.timeout = timeout


@dataclasses.dataclass(frozen=True, slots=True)
class _Paths(RunPaths):
    """A run's paths with its worktree under the seed's `worktree_base`."""

    base: Path

    @property
    def workspace(self) -> Path:
        return self.base / self.slug


def _locate(
    repo: StrPath | None, worktree_base: StrPath | None, environ: Mapping[str, str]
) -> tuple[Path, Path, Path]:
    """Absolute (repository root, runs dir, worktree base) for the seed's optional arguments."""
    cwd = Path.cwd()
    root = git.repo_root(_absolute(repo if repo is not None else cwd, cwd))
    base = _absolute(worktree_base, cwd) if worktree_base is not None else None
    if base is not None and base.name == "workspaces":
        return root, base.parent, base
    runs_dir = resolve_runs_dir(None, environ, cwd=cwd, repo=root)
    return root, runs_dir, base or runs_dir / "workspaces"


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
        env = _caller_environ() if environ is None else environ
        self.run_id = run_id
        self.slug = slugify(run_id)
        self.source_repo, self.runs_dir, self.worktree_base = _locate(source_repo, worktree_base, env)
        self.cleanup_on_exit = cleanup_on_exit
        self._paths = _Paths(self.runs_dir, self.slug, self.worktree_base)
        self.worktree_path = self._paths.workspace
        self.branch = self._paths.branch
        self.created = False
        self._worktree = git.WorkspaceManager(repo=self.source_repo, paths=self._paths)
        self._lease = locks.WorkspaceLease(self.worktree_path, runs_dir=self.runs_dir)
        self._base_sha: str | None = None
        self._attempt = 0

    def _hold_lease(self) -> None:
        if self._lease.is_held_by_me:
            return
        if not self._lease.acquire():
            raise HeldError(self._lease.what, self._lease.holder())
        _MANAGER_LEASES[self._lease.path] = (self._lease, threading.get_ident())

    def _release_lease(self) -> None:
        if self._lease.is_held_by_me:
            _MANAGER_LEASES.pop(self._lease.path, None)
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
        root, runs_dir, _ = _locate(repo, None, _caller_environ())
        rows: list[dict[str, object]] = []
        for info in git.list_managed_worktrees(root, runs_dir):
            lease = locks.WorkspaceLease(runs_dir / "workspaces" / info.slug, runs_dir=runs_dir)
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
        root, runs_dir, base = _locate(repo, worktree_base, _caller_environ())
        if base == runs_dir / "workspaces":  # our layout: maintenance also settles the runs' records
            recovered = maintenance.recover(repo=root, runs_dir=runs_dir).recovered
            return len(recovered) + len(maintenance.cleanup(repo=root, runs_dir=runs_dir).removed)
        count = 0
        for entry in sorted(base.iterdir()) if base.is_dir() else []:
            if entry.is_dir() and is_valid_slug(entry.name) and slugify(entry.name) == entry.name:
                manager = WorkspaceManager(entry.name, source_repo=root, worktree_base=base)
                count += manager.remove_worktree(outcome=Outcome.ABANDONED)
        return count


def _check_slugs(run_ids: Sequence[str]) -> None:
    owners: dict[str, str] = {}
    for run_id in run_ids:
        other = owners.setdefault(slugify(run_id), run_id)
        if other != run_id:
            raise ConfigError(f"run ids {other!r} and {run_id!r} share the slug {slugify(run_id)!r}")


def _run_batch(settings: RunSettings) -> BatchResult:
    """run_batch in a helper thread, so Ctrl-C here stops the runs (each saves its changes) first."""
    control = BatchControl(grace=settings.grace)
    outcome: list[BatchResult | BaseException] = []

    def target() -> None:
        try:
            outcome.append(run_batch(settings, control))
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread below
            outcome.append(exc)

    thread = threading.Thread(target=target, name="parallel-runs-seed-batch")
    thread.start()
    interrupted = False
    while thread.is_alive():
        try:
            thread.join()
        except KeyboardInterrupt:  # first: stop gracefully; second: kill (BatchControl decides)
            interrupted = True
            control.request_stop("interrupted")
    if interrupted:
        raise KeyboardInterrupt
    if isinstance(outcome[0], BaseException):
        raise outcome[0]
    return outcome[0]


def _result_row(run_id: str, end: RunEnd | None, paths: RunPaths) -> dict[str, object]:
    """The seed's result dict for one run, plus outcome, branch and log_path."""
    row: dict[str, object] = {
        "run_id": run_id,
        "success": False,
        "exit_code": -1,
        "workspace": str(paths.workspace),
        # Output is streamed to run.log, never held in memory: the seed's captured streams stay empty.
        "stdout": "",
        "stderr": "",
        "error": None,
        "outcome": Outcome.NOT_STARTED.value,
        "branch": paths.branch,
        "log_path": str(paths.run_log),
    }
    if isinstance(end, RunSummary):
        final = end.final
        exit_code = final.exit_code if final.exit_code is not None else -1
        row.update(success=final.outcome.is_success, exit_code=exit_code, error=final.error)
        row.update(outcome=final.outcome.value, attempt=final.attempt)
    elif isinstance(end, SkippedRun):
        success = end.outcome.is_success
        row.update(success=success, exit_code=0 if success else -1, outcome=end.outcome.value)
        row.update(error=None if success else end.reason)
    elif isinstance(end, HeldRun):
        row.update(outcome=Outcome.HELD.value, error=str(end.error))
    elif isinstance(end, RunError):
        row.update(outcome="error", error=end.message)
    return row


class ParallelRunSupervisor:
    """The seed's supervisor: one command per run id, in parallel, each run in its own worktree."""

    def __init__(
        self,
        source_repo: StrPath,
        database_url: str | None = None,
        autonomous_runs_dir: StrPath | None = None,
        per_run_sqlite: bool = False,
        *,
        command: str | Sequence[str] | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        cwd = Path.cwd()
        self._environ = _caller_environ() if environ is None else environ
        self.source_repo = git.repo_root(_absolute(source_repo, cwd))
        self.database_url = database_url
        runs_flag = os.fspath(autonomous_runs_dir) if autonomous_runs_dir is not None else None
        self.autonomous_runs_dir = resolve_runs_dir(runs_flag, self._environ, cwd=cwd, repo=self.source_repo)
        self.per_run_sqlite = per_run_sqlite
        self.command = command

    def _settings(self, run_ids: list[str], *, workers: int, extra_args: Sequence[str]) -> RunSettings:
        if self.command is None:
            raise SupervisorError(
                "no command: pass command='CMD' (or an argv list); the Autopack executor is not run"
            )
        shell = self.command if isinstance(self.command, str) else None
        if shell is not None and extra_args:
            shell = f"{shell} {shlex.join(extra_args)}"
        argv = () if shell is not None else (*self.command, *extra_args)
        flags: dict[str, object] = {
            # A placeholder id that parses as itself; the ids are put in verbatim below (the seed
            # neither split them on whitespace nor expanded braces).
            "run_ids": [slugify(run_ids[0])],
            "command": shell,
            "workers": str(workers),
            "runs_dir": str(self.autonomous_runs_dir),
            "source_repo": str(self.source_repo),
            "per_run_sqlite": self.per_run_sqlite or None,
            "database_url": None if self.per_run_sqlite else self.database_url,
        }
        try:
            _check_slugs(run_ids)
            settings = build_run_settings(flags=flags, argv=argv, environ=self._environ, cwd=Path.cwd())
        except ConfigError as exc:
            raise SupervisorError(str(exc)) from exc
        return dataclasses.replace(settings, run_ids=tuple(run_ids))

    def execute_parallel(
        self, run_ids: Sequence[str], max_workers: int = 3, extra_args: Sequence[str] | None = None
    ) -> dict[str, dict[str, object]]:
        """Run every id, `max_workers` at a time; return run id → the seed's result dict."""
        ids = dedupe(run_ids)
        if not ids:
            return {}
        batch = _run_batch(self._settings(ids, workers=max_workers, extra_args=extra_args or ()))
        ends = {end.run_id: end for end in batch.ends}
        runs_dir = self.autonomous_runs_dir
        return {
            run_id: _result_row(run_id, ends.get(run_id), RunPaths(runs_dir, slugify(run_id)))
            for run_id in ids
        }

    def execute_run(self, run_id: str, extra_args: Sequence[str] | None = None) -> dict[str, object]:
        """Run one id; return the seed's result dict."""
        return self.execute_parallel([run_id], 1, extra_args)[run_id]

    @staticmethod
    def list_worktrees(source_repo: StrPath) -> list[dict[str, object]]:
        """Managed worktrees, as WorkspaceManager.list_worktrees gives them."""
        return WorkspaceManager.list_worktrees(source_repo)

    @staticmethod
    def cleanup_all_worktrees(repo: StrPath, worktree_base: StrPath | None = None) -> int:
        """Save and remove every worktree no live process holds; return how many were removed."""
        return WorkspaceManager.cleanup_all_worktrees(repo, worktree_base)
