"""The second net for processes a run left behind: found and stopped at the end of each attempt.

The first net is the run's shim (`shim/`), a child subreaper that kills everything below it
when the command ends. Should the shim itself be killed, its orphans come here: this process is a
child subreaper too, and at the end of each attempt a process is stopped when its environment
names the run's worktree, or when it is one of our descendants working inside that worktree. (A
cwd alone is not enough: a user's shell may sit in a kept worktree.) Linux only (/proc).

Only processes started since the attempt began can be its strays. The kernel hands out pids in
order, so with a `ProcessMark` from the start the scan reads those alone (a few, not every process
on the machine), unless the pid counter may have wrapped past the mark: then it reads them all.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from parallel_runs.holders import pid_alive

__all__ = ["ProcessMark", "StrayProcess", "become_subreaper", "remove_if_unused", "stop_strays"]

log = logging.getLogger(__name__)

_PR_SET_CHILD_SUBREAPER = 36
_STOP_GRACE_SECONDS = 1.0
_ROUNDS = 5  # scans a stop may take: a stray that keeps starting others is given up on after these
_PROC = Path("/proc")
_RESERVED_PIDS = 300  # where the kernel's pid counter starts again after it wraps


def _proc_fields(path: str, starting: bytes = b"") -> list[bytes]:
    """The fields of a /proc file (of its first line that starts with `starting`)."""
    with open(path, "rb") as source:
        return next(line for line in source if line.startswith(starting)).split()


@dataclass(frozen=True, slots=True)
class ProcessMark:
    """Where the kernel's pid counter stood, how many processes had been forked since boot, and how
    many pids were in use (every thread holds one)."""

    last_pid: int
    forks: int
    threads: int

    @classmethod
    def now(cls) -> ProcessMark | None:
        """The mark now; None where /proc does not tell (a scan then reads every process)."""
        try:
            return cls(*_counter(), int(_proc_fields("/proc/loadavg")[3].split(b"/")[1]))
        except _UNTOLD:
            return None

    def pids_since(self) -> range | None:
        """Every pid a process started since this mark can have; None if the counter may have wrapped."""
        try:
            last_pid, forks = _counter()
            ring = int(_proc_fields("/proc/sys/kernel/pid_max")[0]) - _RESERVED_PIDS
        except _UNTOLD:
            return None
        if last_pid < self.last_pid:  # it wrapped
            return None
        # Coming round to the mark again takes a fork for every pid not in use when the counter passes
        # it: at most those in use at the mark are skipped (threads, and groups and sessions whose
        # leader is gone, which nothing counts: hence half).
        if forks - self.forks >= (ring - self.threads) // 2:
            return None
        return range(self.last_pid + 1, last_pid + 1)


_UNTOLD = (OSError, ValueError, IndexError, StopIteration)  # what a /proc that does not tell raises


def _counter() -> tuple[int, int]:
    """The last pid the kernel handed out (this pid namespace's), and the forks since boot."""
    return int(_proc_fields("/proc/sys/kernel/ns_last_pid")[0]), int(
        _proc_fields("/proc/stat", b"processes ")[1]
    )


@dataclass(frozen=True, slots=True)
class StrayProcess:
    """A process that outlived its run: its pid and command line."""

    pid: int
    command: str


def become_subreaper() -> bool:
    """Make orphaned descendants this process's children (Linux prctl); False where unsupported."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


def _parent(pid: int) -> int:
    try:
        return int((_PROC / str(pid) / "stat").read_text().rsplit(") ", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return 0


def _is_descendant(pid: int) -> bool:
    me, seen = os.getpid(), 0
    while pid > 1 and seen < 256:  # bounded: a pid reused mid-walk must not loop
        pid, seen = _parent(pid), seen + 1
        if pid == me:
            return True
    return False


def _belongs_to(pid: int, workspace: str, marker: bytes, uid: int) -> bool:
    """Whether the process carries the run's environment, or is ours and works inside its worktree."""
    base = f"/proc/{pid}"  # plain strings: the scan reads every process at the end of every run
    try:
        if os.stat(base).st_uid != uid:
            return False
        with open(f"{base}/environ", "rb") as environ:
            if marker in environ.read().split(b"\0"):
                return True
        cwd = os.readlink(f"{base}/cwd").removesuffix(" (deleted)")
    except OSError:  # gone meanwhile, or not ours to look at
        return False
    return (cwd == workspace or cwd.startswith(f"{workspace}/")) and _is_descendant(pid)


def _command_line(pid: int) -> str:
    try:
        raw = (_PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return "?"
    return raw.replace(b"\0", b" ").decode(errors="replace").strip() or "?"


def _find(workspace: Path, since: ProcessMark | None) -> list[StrayProcess]:
    marker = f"PARALLEL_RUNS_WORKSPACE={workspace}".encode()
    me, uid, found = os.getpid(), os.getuid(), []
    listed = [int(name) for name in os.listdir(_PROC) if name.isdigit()]
    started = since.pids_since() if since is not None else None  # read after the listing: it covers it
    for pid in listed if started is None else (pid for pid in listed if pid in started):
        if pid != me and _belongs_to(pid, str(workspace), marker, uid):
            found.append(StrayProcess(pid, _command_line(pid)))
    return found


def _alive(pid: int) -> bool:
    """Alive and not a zombie; a child of ours that ended is reaped here."""
    if not pid_alive(pid):
        return False
    with contextlib.suppress(ChildProcessError):  # our child (re-parented to us): reap it if it ended
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    try:
        return (_PROC / str(pid) / "stat").read_text().split(") ", 1)[1][:1] != "Z"
    except (OSError, IndexError):
        return False


def stop_strays(workspace: Path, since: ProcessMark | None = None) -> list[StrayProcess]:
    """Stop (SIGTERM, SIGKILL after a second) every process a run left behind; return them.

    `since`: taken before the run's first process started (else every process is read). What a
    stray starts while it is being stopped (a TERM trap's child) is looked for again: with `since`,
    no later scan would read it."""
    stopped: list[StrayProcess] = []
    for _ in range(_ROUNDS):
        seen = {stray.pid for stray in stopped}  # one that outlived SIGKILL is not waited for again
        strays = [stray for stray in _find(workspace, since) if stray.pid not in seen]
        if not strays:
            break
        _stop(strays)
        stopped.extend(strays)
    if stopped:
        log.warning("stopped %d process(es) left behind in %s", len(stopped), workspace)
    return stopped


def _stop(strays: list[StrayProcess]) -> None:
    for stray in strays:
        with contextlib.suppress(ProcessLookupError):
            os.kill(stray.pid, signal.SIGTERM)
    deadline = time.monotonic() + _STOP_GRACE_SECONDS
    while any(_alive(stray.pid) for stray in strays) and time.monotonic() < deadline:
        time.sleep(0.02)
    for stray in strays:
        if _alive(stray.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(stray.pid, signal.SIGKILL)
    deadline = time.monotonic() + _STOP_GRACE_SECONDS
    while any(_alive(stray.pid) for stray in strays) and time.monotonic() < deadline:
        time.sleep(0.02)  # `_alive` reaps the ones re-parented to us, so no zombie stays


def _has_users(path: Path, workspace: Path) -> bool:
    """Whether any process has `path` open or works inside `workspace`."""
    for entry in _PROC.glob("[0-9]*"):
        try:
            cwd = Path(os.readlink(entry / "cwd"))
            if cwd == workspace or workspace in cwd.parents:
                return True
            if any(os.readlink(fd) == str(path) for fd in (entry / "fd").iterdir()):
                return True
        except OSError:  # gone meanwhile, or not ours to look at
            continue
    return False


def remove_if_unused(lock: Path, workspace: Path) -> bool:
    """Remove a lock file nobody holds (no process has it open or works in the worktree); True if removed."""
    if _has_users(lock, workspace):
        return False
    lock.unlink(missing_ok=True)
    log.warning("removed %s, left behind by a git that died", lock)
    return True
