"""Managed worktrees after the fact: list them, clean up finished ones, recover what dead holders left.

Nothing here touches a worktree without first holding its lease and then its run's lock (the order
execution takes them), non-blockingly: a live holder's worktree is never saved, removed or reclaimed.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import time
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

from parallel_runs import git
from parallel_runs.core.durations import format_duration
from parallel_runs.core.layout import RunPaths
from parallel_runs.core.model import Outcome
from parallel_runs.errors import AlreadyHeldError, Holder, ParallelRunsError, StoreError
from parallel_runs.locks import ExecutorLockManager, OwnedLock, WorkspaceLease
from parallel_runs.process import kill_process_group
from parallel_runs.store import AttemptRecord, RunStore

__all__ = [
    "CleanupReport",
    "ManagedWorktree",
    "RecoveryReport",
    "RemovedWorktree",
    "Skipped",
    "WorktreeState",
    "cleanup",
    "list_worktrees",
    "recover",
    "recover_orphaned_worktree",
]

log = logging.getLogger(__name__)

_Record = Mapping[str, object]


class WorktreeState(StrEnum):
    """What a managed worktree is doing, as far as locks and the run's store tell."""

    RUNNING = "running"  # a live process holds its lease or lock
    FINISHED = "finished"  # its latest attempt finished (kept by --keep-worktrees)
    ORPHANED = "orphaned"  # its attempt is still `running` but the process holding it died
    STALE = "stale"  # git knows it but the directory is gone, or a directory git does not know


@dataclass(frozen=True, slots=True, kw_only=True)
class ManagedWorktree:
    """One worktree under <runs dir>/workspaces."""

    slug: str
    path: Path
    state: WorktreeState
    run_id: str | None
    attempt: int | None
    status: Outcome | None  # of the latest recorded attempt
    holder: Holder | None
    age_seconds: float | None
    is_dirty: bool | None  # None when there is no worktree to look into
    branch: str

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


@dataclass(frozen=True, slots=True)
class RecoveryReport:
    """What `recover` reclaimed; runs held by live processes are in `held`."""

    recovered: tuple[RemovedWorktree, ...]  # orphaned worktrees saved and removed
    reclaimed: tuple[str, ...]  # slugs (or lease files) whose dead holder's lock or lease was released
    pruned: tuple[str, ...]  # slugs whose vanished worktree git forgot, or whose empty directory went
    held: tuple[Skipped, ...]
    failed: tuple[Skipped, ...]


@dataclass(frozen=True, slots=True)
class _Probe:
    """One slug as seen from outside its locks."""

    paths: RunPaths
    holder: Holder | None
    is_held: bool
    record: _Record | None  # the last owner record of its lock (else lease): a dead holder's, when not held
    latest: AttemptRecord | None
    is_dir: bool
    info: git.WorktreeInfo | None  # what git knows of it


def _now() -> datetime:
    return datetime.now(UTC)


def _locks(paths: RunPaths) -> tuple[OwnedLock, OwnedLock]:
    return WorkspaceLease(paths.workspace, runs_dir=paths.runs_dir), ExecutorLockManager(
        paths.slug, runs_dir=paths.runs_dir
    )


@contextmanager
def _holding(paths: RunPaths) -> Iterator[_Record | None]:
    """Hold lease then lock without waiting (AlreadyHeldError if live); yield a dead holder's record."""
    lease, lock = _locks(paths)
    with lease, lock:
        yield lock.previous_record or lease.previous_record


def _latest_attempt(paths: RunPaths) -> AttemptRecord | None:
    if not paths.database.is_file():
        return None
    try:
        with RunStore.open(paths.database, create=False) as store:
            attempts = [a for a in store.attempts() if a.slug == paths.slug]
    except StoreError as exc:
        log.warning("cannot read the store of %s: %s", paths.slug, exc)
        return None
    return max(attempts, key=lambda a: a.attempt, default=None)


def _is_orphaned(latest: AttemptRecord | None, record: _Record | None, *, has_worktree: bool) -> bool:
    """No live holder: is the run's last attempt (or a worktree made for an unrecorded one) dead?"""
    if latest is not None and latest.status is Outcome.RUNNING:
        return True
    if not has_worktree:
        return False
    attempt = record.get("attempt") if record else None
    # No attempt recorded, or the dead holder had begun a later one: it died before recording it.
    return latest is None or (type(attempt) is int and attempt > latest.attempt)


def _probe(paths: RunPaths, registered: Mapping[str, git.WorktreeInfo]) -> _Probe:
    lease, lock = _locks(paths)
    is_held = lock.is_locked() or lease.is_locked()
    return _Probe(
        paths=paths,
        holder=(lock.holder() or lease.holder()) if is_held else None,
        is_held=is_held,
        record=lock.record() or lease.record(),
        latest=_latest_attempt(paths),
        is_dir=paths.workspace.is_dir(),
        info=registered.get(paths.slug),
    )


def _state(probe: _Probe) -> WorktreeState:
    if probe.is_held:
        return WorktreeState.RUNNING
    info = probe.info
    if info is None or info.is_prunable or not (probe.paths.workspace / ".git").exists():
        return WorktreeState.STALE
    if _is_orphaned(probe.latest, probe.record, has_worktree=True):
        return WorktreeState.ORPHANED
    return WorktreeState.FINISHED


def _registered(repo: Path, runs_dir: Path) -> dict[str, git.WorktreeInfo]:
    return {info.slug: info for info in git.list_managed_worktrees(repo, runs_dir)}


def _worktree_slugs(runs_dir: Path, registered: Mapping[str, git.WorktreeInfo]) -> set[str]:
    home = runs_dir / "workspaces"
    return set(registered) | ({p.name for p in home.iterdir()} if home.is_dir() else set())


def _describe(repo: Path, probe: _Probe, now: float) -> ManagedWorktree:
    latest, record = probe.latest, probe.record or {}
    try:
        age: float | None = max(0.0, now - probe.paths.workspace.stat().st_mtime)
    except OSError:
        age = None if latest is None else max(0.0, now - latest.started_at.timestamp())
    attempts = [a for a in (latest.attempt if latest else None, record.get("attempt")) if type(a) is int]
    state = _state(probe)
    dirty = None
    if state is not WorktreeState.STALE:
        try:
            dirty = git.WorkspaceManager(repo=repo, paths=probe.paths).is_dirty()
        except ParallelRunsError:
            dirty = None
    record_run_id = record.get("run_id")
    return ManagedWorktree(
        slug=probe.paths.slug,
        path=probe.paths.workspace,
        state=state,
        run_id=latest.run_id if latest else record_run_id if isinstance(record_run_id, str) else None,
        attempt=max(attempts, default=None),
        status=latest.status if latest else None,
        holder=probe.holder,
        age_seconds=age,
        is_dirty=dirty,
        branch=probe.paths.branch,
    )


def list_worktrees(*, repo: Path, runs_dir: Path) -> list[ManagedWorktree]:
    """Every managed worktree (registered in git or on disk under runs_dir/workspaces), by slug."""
    registered = _registered(repo, runs_dir)
    now = time.time()
    slugs = sorted(_worktree_slugs(runs_dir, registered))
    return [_describe(repo, _probe(RunPaths(runs_dir, slug), registered), now) for slug in slugs]


def _kill_orphaned_command(stale_record: _Record | None, workspace: Path) -> int | None:
    """A dead holder's command may still run in the old worktree: stop it before saving its files."""
    pgid = stale_record.get("child_pgid") if stale_record else None
    host = stale_record.get("host") if stale_record else None
    if type(pgid) is not int or (isinstance(host, str) and host != socket.gethostname()):
        return None
    # pgids are reused: only kill a group whose leader still works inside this run's worktree.
    try:
        cwd = Path(os.readlink(f"/proc/{pgid}/cwd"))
    except OSError:
        return None
    if cwd != workspace and workspace not in cwd.parents:
        return None
    log.warning("killing process group %d left running by a dead holder in %s", pgid, workspace)
    return pgid if kill_process_group(pgid, signal.SIGKILL) else None


def _run_id_of(store: RunStore, slug: str, stale_record: _Record | None) -> str:
    known = [a.run_id for a in store.attempts() if a.slug == slug]
    named = stale_record.get("run_id") if stale_record else None
    return known[-1] if known else named if isinstance(named, str) else slug


@dataclass(frozen=True, slots=True)
class _Leftover:
    attempt: int
    outcome: Outcome
    base_sha: str
    running: tuple[AttemptRecord, ...]


def _leftover(
    store: RunStore, run_id: str, stale_record: _Record | None, fallback_base_sha: str
) -> _Leftover:
    """Which attempt left the worktree behind, and how it ended: abandoned unless recorded as finished."""
    attempts = store.attempts(run_id)
    running = tuple(a for a in attempts if a.status is Outcome.RUNNING)
    if running:
        return _Leftover(running[-1].attempt, Outcome.ABANDONED, running[-1].base_sha, running)
    begun = stale_record.get("attempt") if stale_record else None
    begun = begun if type(begun) is int else 0  # a dead holder may have begun an attempt it never recorded
    if attempts and attempts[-1].attempt >= begun:  # kept after its attempt finished
        return _Leftover(attempts[-1].attempt, attempts[-1].status, attempts[-1].base_sha, ())
    return _Leftover(begun, Outcome.ABANDONED, fallback_base_sha, ())


def recover_orphaned_worktree(
    *,
    repo: Path,
    runs_dir: Path,
    run_id: str | None,
    slug: str,
    stale_record: Mapping[str, object] | None,
    store: RunStore,
    fallback_base_sha: str,
) -> RemovedWorktree:
    """Save a leftover worktree (as `abandoned` if its attempt died, marked so in the store) and remove it.

    The caller holds the run's lease and lock; `stale_record` is the dead holder's record, if any.
    """
    paths = RunPaths(runs_dir, slug)
    killed = _kill_orphaned_command(stale_record, paths.workspace)
    run_id = run_id if run_id is not None else _run_id_of(store, slug, stale_record)
    left = _leftover(store, run_id, stale_record, fallback_base_sha)
    workspaces = git.WorkspaceManager(repo=repo, paths=paths)
    level = logging.WARNING if left.outcome is Outcome.ABANDONED else logging.INFO
    log.log(level, "run %r: saving the worktree of attempt %d as %s", run_id, left.attempt, left.outcome)
    head = workspaces.save_changes(
        run_id=run_id, attempt=left.attempt, outcome=left.outcome, base_sha=left.base_sha
    )
    abandoned = tuple(
        a.attempt
        for a in left.running
        if store.mark_abandoned(run_id=run_id, attempt=a.attempt, at=_now(), reason="holder died")
    )
    workspaces.remove()  # not forced: git refuses anything written after the save
    return RemovedWorktree(
        slug=slug,
        run_id=run_id,
        attempt=left.attempt,
        outcome=left.outcome,
        head_sha=head,
        abandoned=abandoned,
        killed_pgid=killed,
        branch=paths.branch,
    )


def _save_and_remove(repo: Path, paths: RunPaths, stale: _Record | None) -> RemovedWorktree:
    """With the run's lease and lock held: save the worktree to its branch, then remove it."""
    latest = _latest_attempt(paths)
    is_tree = (paths.workspace / ".git").exists()
    base = latest.base_sha if latest else git.resolve_commit(paths.workspace if is_tree else repo, "HEAD")
    with RunStore.open(paths.database) as store:
        return recover_orphaned_worktree(
            repo=repo,
            runs_dir=paths.runs_dir,
            run_id=latest.run_id if latest else None,
            slug=paths.slug,
            stale_record=stale,
            store=store,
            fallback_base_sha=base,
        )


def _recover_holding(repo: Path, paths: RunPaths, stale: _Record | None) -> RemovedWorktree | bool:
    """With the locks held: recover an orphan, else prune a vanished or empty worktree (True if pruned)."""
    workspaces = git.WorkspaceManager(repo=repo, paths=paths)
    is_tree = (paths.workspace / ".git").exists()
    vanished = not is_tree and not paths.workspace.exists() and workspaces.exists()  # git-registered only
    if _is_orphaned(_latest_attempt(paths), stale, has_worktree=is_tree or vanished):
        return _save_and_remove(repo, paths, stale)
    if not is_tree and workspaces.exists():
        workspaces.remove()  # only a registration or an empty directory: a non-empty one raises
        return True
    return False


def _needs_recovery(probe: _Probe) -> bool:
    if probe.record is not None or (probe.latest is not None and probe.latest.status is Outcome.RUNNING):
        return True
    return (probe.is_dir or probe.info is not None) and _state(probe) is not WorktreeState.FINISHED


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


def _recover_slug(repo: Path, probe: _Probe) -> RemovedWorktree | str | Skipped | None:
    """Recover one slug: what was removed, "pruned"/"reclaimed", why it was left (held), or None."""
    run_id = probe.latest.run_id if probe.latest else None
    if probe.is_held:
        return Skipped(probe.paths.slug, run_id, f"held by {_who(probe.holder)}")
    try:
        with _holding(probe.paths) as stale:
            done = _recover_holding(repo, probe.paths, stale)
    except AlreadyHeldError as exc:
        return Skipped(probe.paths.slug, run_id, str(exc))
    if isinstance(done, RemovedWorktree):
        return done
    return "pruned" if done else "reclaimed" if stale is not None else None


def recover(*, repo: Path, runs_dir: Path, only_slugs: Collection[str] | None = None) -> RecoveryReport:
    """Reclaim dead holders' locks and leases, abandon their running attempts, save and remove orphans."""
    registered = _registered(repo, runs_dir)
    leases = _lease_files(runs_dir) if only_slugs is None else {}
    slugs = set(only_slugs) if only_slugs is not None else _worktree_slugs(runs_dir, registered)
    if only_slugs is None:
        slugs |= _lock_slugs(runs_dir) | {slug for slug in leases.values() if slug}
    recovered: list[RemovedWorktree] = []
    held: list[Skipped] = []
    failed: list[Skipped] = []
    tagged: dict[str, list[str]] = {"pruned": [], "reclaimed": []}
    for slug in sorted(slugs):
        probe = _probe(RunPaths(runs_dir, slug), registered)
        if not _needs_recovery(probe):
            continue
        try:
            done = _recover_slug(repo, probe)
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
        tuple(recovered), tuple(tagged["reclaimed"]), tuple(tagged["pruned"]), tuple(held), tuple(failed)
    )


def _who(holder: Holder | None) -> str:
    return holder.describe() if holder else "a live process"


def _cleanup_refusal(tree: ManagedWorktree, older_than: float | None) -> str | None:
    if tree.state is WorktreeState.RUNNING:
        return f"running (held by {_who(tree.holder)})"
    if tree.state is not WorktreeState.FINISHED:
        return f"{tree.state.value}: `parallel-runs recover` saves and removes it"
    if older_than is not None and (tree.age_seconds is None or tree.age_seconds < older_than):
        return f"younger than {format_duration(older_than)}"
    return None


def _clean_one(repo: Path, tree: ManagedWorktree, runs_dir: Path) -> RemovedWorktree | Skipped:
    paths = RunPaths(runs_dir, tree.slug)
    try:
        with _holding(paths) as stale:  # held while saving and removing: a run starting now gets exit 75
            if not git.WorkspaceManager(repo=repo, paths=paths).exists():
                return Skipped(tree.slug, tree.run_id, "already removed")
            # Should a run have begun and died since we looked, this saves it as `abandoned`.
            return _save_and_remove(repo, paths, stale)
    except AlreadyHeldError as exc:
        return Skipped(tree.slug, tree.run_id, f"running ({exc})")


def cleanup(*, repo: Path, runs_dir: Path, older_than: float | None = None) -> CleanupReport:
    """Save and remove worktrees of finished runs (only those older than `older_than` seconds, if given)."""
    removed: list[RemovedWorktree] = []
    skipped: list[Skipped] = []
    failed: list[Skipped] = []
    for tree in list_worktrees(repo=repo, runs_dir=runs_dir):
        if reason := _cleanup_refusal(tree, older_than):
            skipped.append(Skipped(tree.slug, tree.run_id, reason))
            continue
        try:
            done = _clean_one(repo, tree, runs_dir)
        except ParallelRunsError as exc:
            failed.append(Skipped(tree.slug, tree.run_id, str(exc)))
            continue
        if isinstance(done, Skipped):
            skipped.append(done)
        else:
            removed.append(done)
    return CleanupReport(tuple(removed), tuple(skipped), tuple(failed))
