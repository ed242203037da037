"""Who holds a lock or lease: the owner record (host, pid, start, attempt) its file carries (CONTRACTS §3)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "Holder",
    "describe_record",
    "parse_record",
    "pid_alive",
    "read_record_bytes",
    "read_record_of",
    "write_record",
]

_MAX_RECORD = 64 * 1024


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists on this machine (one of another user's counts too).

    A zombie still exists here: strays.py, which reaps its own, asks more of a process than this.
    """
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(frozen=True, slots=True)
class Holder:
    """Who holds a lock or lease: read from its owner record."""

    host: str
    pid: int
    started_at: str  # ISO-8601 UTC
    attempt: int | None = None

    @classmethod
    def from_record(cls, record: dict[str, object] | None) -> Holder | None:
        """The holder an owner record names; None when there is no record or it lacks host/pid/start."""
        if record is None:
            return None
        host, pid, started_at, attempt = (record.get(k) for k in ("host", "pid", "started_at", "attempt"))
        if not isinstance(host, str) or not isinstance(started_at, str) or type(pid) is not int:
            return None
        attempt = attempt if type(attempt) is int else None
        return cls(host=host, pid=pid, started_at=started_at, attempt=attempt)

    def describe(self) -> str:
        """One phrase naming the holder, for error messages."""
        attempt = f", attempt {self.attempt}" if self.attempt is not None else ""
        return f"host {self.host}, pid {self.pid}, since {self.started_at}{attempt}"


def describe_record(record: dict[str, object] | None) -> str:
    """The record's holder as one phrase, for logs."""
    holder = Holder.from_record(record)
    return holder.describe() if holder else "none readable"


def parse_record(data: bytes) -> dict[str, object] | None:
    """An owner record from a lock file's bytes; None when empty or not a JSON object."""
    if not data.strip():
        return None
    try:
        value = json.loads(data)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def read_record_of(fd: int) -> dict[str, object] | None:
    """The owner record in the open lock file `fd`."""
    return parse_record(os.pread(fd, _MAX_RECORD, 0))


def read_record_bytes(path: Path) -> bytes:
    """A lock file's bytes (empty when it does not exist), never following a symlink."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return b""
    try:
        return os.pread(fd, _MAX_RECORD, 0)
    finally:
        os.close(fd)


def write_record(fd: int, record: dict[str, object]) -> None:
    """Replace the owner record in the open lock file `fd`, so that a reader sees the old or the new one."""
    # The inode must not change (it is what is locked), so no rename: one pwrite padded with blanks over the
    # old record (JSON allows trailing blanks), then a trim.
    payload = (json.dumps(record) + "\n").encode("utf-8")
    old_size = os.fstat(fd).st_size
    os.pwrite(fd, payload.ljust(old_size, b" "), 0)
    if old_size > len(payload):
        os.ftruncate(fd, len(payload))
