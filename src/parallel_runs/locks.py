"""Workspace leases and executor locks: kernel file locks (filelock) that carry an owner record."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Self

import filelock

from parallel_runs import testing_faults
from parallel_runs.core.layout import RunPaths, lease_path_for
from parallel_runs.errors import AlreadyHeldError, ConfigError
from parallel_runs.holders import (
    Holder,
    describe_record,
    parse_record,
    pid_alive,
    read_record_bytes,
    read_record_of,
    write_record,
)

__all__ = ["OwnedLock", "RunLock", "WorktreeLease", "hold_run", "run_locks", "stale_record"]

logger = logging.getLogger(__name__)

# A reader's probe (is_locked, holder) or force_unlock's check occupies the flock for microseconds; acquire()
# retries this long so such a probe is never mistaken for a holder. A real holder keeps it far longer.
_CONTENTION_GRACE = 0.25
_POLL_INTERVAL = 0.005
_RESERVED = frozenset({"host", "pid", "started_at"})  # the attempt is known only once the lock is held
_CONTENTION_ERRNOS = frozenset({errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES})


class OwnedLock:
    """One lock file: a kernel flock (through filelock) whose file carries its holder's owner record."""

    def __init__(self, path: Path, *, what: str, attempt: int | None = None) -> None:
        if not path.is_absolute():
            raise ValueError(f"lock path must be absolute, got {path}")
        if testing_faults.is_broken("run-lock"):  # chaos-proof only: a lock no other process meets
            path = path.with_name(f"{path.name}.{os.getpid()}")
        self.path = path
        self.what = what
        self.attempt = attempt
        self.previous_record: dict[str, object] | None = None  # a dead holder's record found on acquire
        self._fields: dict[str, object] = {}  # identifying fields subclasses add to every record
        self._guard = threading.Lock()  # makes "am I holding?" + acquire one step for threads sharing self
        self._fd: int | None = None
        self._owner_pid: int | None = None
        self._record: dict[str, object] | None = None
        # The record lives in the locked file, written only through the just-locked descriptor (on_acquired):
        # a loser never gets a descriptor to write with, and no sibling file can outlive or misname its lock.
        self._lock = filelock.FileLock(
            path,
            thread_local=False,  # a hold belongs to the process: another thread may release it (cancel)
            is_singleton=False,  # each instance opens its own descriptor, so two instances exclude each other
            fallback_to_soft=False,  # only a kernel lock is freed automatically when its holder dies
            preserve_lock_file=True,  # waiters must meet on the same inode; only force_unlock removes it
            on_acquired=self._on_acquired,
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r}, what={self.what!r})"

    @property
    def is_held_by_me(self) -> bool:
        """Whether this instance, in this process, holds the lock."""
        return self._fd is not None and self._owner_pid == os.getpid() and self._lock.is_locked

    def acquire(self) -> bool:
        """Take the lock without waiting for a holder; False (record untouched) if a live process holds it."""
        with self._guard:
            if self.is_held_by_me:
                return False  # not reentrant: a second acquire of a held lock never "succeeds"
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._lock.acquire(timeout=_CONTENTION_GRACE, poll_interval=_POLL_INTERVAL)
            except filelock.Timeout:
                return False
            except OSError as exc:
                raise ConfigError(f"cannot take the lock file {self.path}: {exc}") from exc
            return True

    def acquire_or_raise(self) -> None:
        """Take the lock or raise AlreadyHeldError naming the live holder."""
        if not self.acquire():
            raise AlreadyHeldError(self.what, self.holder())

    def release(self) -> None:
        """Clear this holder's record and release the lock; does nothing when not held."""
        self._release(keep_record=False)

    def release_keeping_record(self) -> None:
        """Release the lock, its record left for the next holder (what it names is still to deal with)."""
        self._release(keep_record=True)

    def _release(self, *, keep_record: bool) -> None:
        with self._guard:
            fd = self._fd
            if fd is None or not self.is_held_by_me:
                return
            self._fd, self._record = None, None
            try:
                if not keep_record:  # still holding: a clean release leaves no record for recovery to act on
                    os.ftruncate(fd, 0)
            except OSError as exc:
                logger.warning("could not clear the owner record of %s: %s", self.what, exc)
            finally:
                self._lock.release(force=True)

    def is_locked(self) -> bool:
        """Whether a live process (this one included) holds the lock."""
        return self.is_held_by_me or _is_held_by_anyone(self.path)

    def holder(self) -> Holder | None:
        """The live holder as its record names it, else None (a dead holder's record is ignored)."""
        if self.is_held_by_me:
            return Holder.from_record(self._record)
        if not _is_held_by_anyone(self.path):
            return None
        holder = Holder.from_record(self.record())
        if holder is not None and holder.host == socket.gethostname() and not pid_alive(holder.pid):
            # The flock is the truth; a dead pid here means a just-starting holder or an fd leaked to a child.
            logger.info("%s is held, but its record names pid %d, which is gone", self.what, holder.pid)
        return holder

    def record(self) -> dict[str, object] | None:
        """The owner record as last written, possibly by a holder that has since died."""
        for _ in range(3):  # a reader can catch an update mid-write; the writer never leaves one torn
            data = read_record_bytes(self.path)
            record = parse_record(data)
            if record is not None or not data.strip():
                return record
        return None

    def update_record(self, **extra: object) -> None:
        """Add fields (e.g. child_pgid) to the record of the lock this instance holds."""
        if reserved := sorted(_RESERVED & extra.keys()):
            raise ValueError(f"update_record cannot change {', '.join(reserved)}")
        with self._guard:
            fd, record = self._fd, self._record
            if fd is None or record is None or not self.is_held_by_me:
                raise RuntimeError(f"{self.what}: update_record needs the lock held by this instance")
            record = {**record, **extra}
            write_record(fd, record)
            self._record = record

    def force_unlock(self) -> None:
        """Remove a stale lock file; raise AlreadyHeldError while a live process holds it."""
        if self.is_held_by_me:
            raise AlreadyHeldError(self.what, self.holder())
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_NOFOLLOW)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise ConfigError(f"cannot open the lock file {self.path}: {exc}") from exc
        try:
            if not _lock_within_grace(fd):
                raise AlreadyHeldError(self.what, self.holder())
            # Unlink only while holding the flock: a contender that flocks this inode afterwards finds it
            # unlinked (filelock checks st_nlink) and retries on a fresh file, so two holders cannot result.
            stale = read_record_of(fd)
            with contextlib.suppress(FileNotFoundError):
                if os.path.samestat(os.fstat(fd), os.lstat(self.path)):
                    os.unlink(self.path)
            logger.info("removed the stale lock of %s (last record: %s)", self.what, describe_record(stale))
        except OSError as exc:
            raise ConfigError(f"cannot remove the lock file {self.path}: {exc}") from exc
        finally:
            os.close(fd)  # drops our flock

    def __enter__(self) -> Self:
        self.acquire_or_raise()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()

    def _on_acquired(self, fd: int) -> None:
        # Runs inside filelock's acquire with the flock held; raising rolls the acquisition back.
        previous = read_record_of(fd)
        if previous is not None:
            logger.info(
                "taking over %s from a holder that died holding it (%s)", self.what, describe_record(previous)
            )
        record: dict[str, object] = {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "attempt": self.attempt,
            **self._fields,
        }
        write_record(fd, record)
        self.previous_record, self._record = previous, record
        self._fd, self._owner_pid = fd, os.getpid()


class WorktreeLease(OwnedLock):
    """Layer 2: one live holder per worktree, keyed by the sha256 of its absolute path (CONTRACTS §3).

    The seed's class of this job keeps its name, `parallel_runs.WorkspaceLease` (seed/locks.py).
    """

    def __init__(self, workspace: Path, *, runs_dir: Path, attempt: int | None = None) -> None:
        if not workspace.is_absolute():
            raise ValueError(f"workspace must be an absolute path, got {workspace}")
        if not runs_dir.is_absolute():
            raise ValueError(f"runs dir must be an absolute path, got {runs_dir}")
        self.workspace = Path(os.path.normpath(workspace))  # lexical only: a/../b and a/b share a lease
        super().__init__(
            lease_path_for(runs_dir, self.workspace), what=f"workspace {self.workspace}", attempt=attempt
        )
        self._fields = {"workspace": str(self.workspace)}


class RunLock(OwnedLock):
    """Layer 3, the per-run executor lock: one live attempt per run, through <runs_dir>/.locks/<slug>.lock.

    The seed's class of this job keeps its name, `parallel_runs.ExecutorLockManager` (seed/locks.py).
    """

    def __init__(
        self, slug: str, *, runs_dir: Path, run_id: str | None = None, attempt: int | None = None
    ) -> None:
        if not runs_dir.is_absolute():
            raise ValueError(f"runs dir must be an absolute path, got {runs_dir}")
        if not slug or slug in {".", ".."} or "/" in slug or os.sep in slug or "\0" in slug:
            raise ValueError(f"not a slug: {slug!r}")
        self.slug = slug
        self.run_id = run_id
        label = run_id if run_id is not None else slug
        super().__init__(RunPaths(runs_dir=runs_dir, slug=slug).lock, what=f"run {label!r}", attempt=attempt)
        self._fields = {"run_id": run_id, "slug": slug}


def _is_held_by_anyone(path: Path) -> bool:
    # A shared non-blocking flock on a read-only descriptor: it fails only against an exclusive holder, never
    # against other probes, writes nothing; closing drops it (filelock's lock_descriptor is exclusive-only).
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in _CONTENTION_ERRNOS:
            return True
        raise
    finally:
        os.close(fd)
    return False


def _lock_within_grace(fd: int) -> bool:
    deadline = time.monotonic() + _CONTENTION_GRACE
    while not filelock.lock_descriptor(fd, blocking=False):
        if time.monotonic() >= deadline:
            return False
        time.sleep(_POLL_INTERVAL)
    return True


def run_locks(paths: RunPaths, *, run_id: str | None = None) -> tuple[WorktreeLease, RunLock]:
    """Layers 2 and 3 of one run: its workspace lease and its executor lock (not taken yet)."""
    lease = WorktreeLease(paths.workspace, runs_dir=paths.runs_dir)
    return lease, RunLock(paths.slug, runs_dir=paths.runs_dir, run_id=run_id)


@contextmanager
def hold_run(paths: RunPaths, *, run_id: str | None = None) -> Iterator[tuple[OwnedLock, OwnedLock]]:
    """Take the lease, then the lock, without waiting; AlreadyHeldError naming a live holder."""
    lease, lock = run_locks(paths, run_id=run_id)
    with lease, lock:
        yield lease, lock


def stale_record(held: tuple[OwnedLock, OwnedLock]) -> dict[str, object] | None:
    """The record a dead holder left (lock first: it carries the command's process group)."""
    lease, lock = held
    return lock.previous_record or lease.previous_record
