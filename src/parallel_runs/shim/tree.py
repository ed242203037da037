"""The shim's view of the processes below it (/proc), and its part as their child subreaper."""

from __future__ import annotations

import _ctypes  # `ctypes` takes 3 ms to import: prctl is called through its core
import os

_PR_SET_CHILD_SUBREAPER = 36
_PROC = "/proc"


class _CInt(_ctypes._SimpleCData):  # type: ignore[type-arg]  # what ctypes.c_int is
    _type_ = "i"


class _CFunction(_ctypes.CFuncPtr):  # what ctypes.CDLL makes of a C function
    _flags_ = _ctypes.FUNCFLAG_CDECL
    _restype_ = _CInt


class _Libc:  # the process's own symbols, as ctypes.CDLL(None)
    _handle = _ctypes.dlopen(None)  # type: ignore[arg-type]  # typeshed misses dlopen(NULL)


def adopt_orphans() -> None:
    """Orphans of the command's tree become our children (prctl PR_SET_CHILD_SUBREAPER)."""
    _CFunction(("prctl", _Libc()))(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)  # type: ignore[arg-type]


def _stat(pid: int) -> tuple[int, int, str] | None:
    """(ppid, pgid, state) of a process, or None if it is gone."""
    try:
        with open(f"{_PROC}/{pid}/stat", "rb") as stat:
            fields = stat.read().rsplit(b") ", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[1]), int(fields[2]), fields[0].decode()


def command_line(pid: int) -> str:
    try:
        with open(f"{_PROC}/{pid}/cmdline", "rb") as cmdline:
            raw = cmdline.read()
    except OSError:
        return "?"
    return raw.replace(b"\0", b" ").decode(errors="replace").strip() or "?"


def descendants() -> dict[int, tuple[int, str]]:
    """Every process below this one: {pid: (pgid, state)} (orphans are our children: we reap them)."""
    children: dict[int, list[tuple[int, int, str]]] = {}
    for name in os.listdir(_PROC):
        if name.isdigit() and (stat := _stat(int(name))) is not None:
            children.setdefault(stat[0], []).append((int(name), stat[1], stat[2]))
    found: dict[int, tuple[int, str]] = {}
    todo = [os.getpid()]
    while todo:
        for pid, pgid, state in children.get(todo.pop(), ()):
            if pid not in found:
                found[pid] = (pgid, state)
                todo.append(pid)
    return found


def kill(pid: int, sig: int) -> None:
    # try/except, not contextlib.suppress: importing contextlib costs every shim's start milliseconds
    try:  # noqa: SIM105
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def has_children() -> bool:
    """Whether any process (ended or not) still has us as its parent: the command's orphans do."""
    try:
        os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return False
    return True


def signal_tree(sig: int) -> int:
    """Send `sig` to every process below this one; how many there were."""
    found = descendants()
    for pid in found:
        kill(pid, sig)
    return len(found)
