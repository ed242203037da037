"""The shim's loop: the commands the supervisor sends on its control socket, one at a time."""

from __future__ import annotations

import _signal as signal  # type: ignore[import-not-found]  # `signal` imports enum: slow to start
import _socket  # `socket` imports enum too
import os
import resource
import sys

from parallel_runs.shim.command import Shim, tell_log
from parallel_runs.shim.tree import adopt_orphans

_running: list[Shim] = []  # the command running now (one at most), which SIGTERM and SIGUSR1 stop
_HEADER = 8  # bytes: the request's length, sent with its three file descriptors
_FDS = 3
# The answer to a request: taken (from now on a stop signal reaches its command), or refused because
# this shim retires (a command changed what the next would inherit): the supervisor asks a new one.
READY, RETIRED = b"+", b"-"
_LIMITS = [getattr(resource, name) for name in dir(resource) if name.startswith("RLIMIT_")]


def _inherited() -> tuple[object, ...]:
    """What a command could change of this process (`prlimit --pid $PPID`, `renice`, the OOM score,
    the CPUs) that the commands after it would inherit."""
    try:
        with open("/proc/self/oom_score_adj", "rb") as oom:
            score = oom.read()
    except OSError:
        score = b""
    limits = [resource.getrlimit(limit) for limit in _LIMITS]
    return limits, os.getpriority(os.PRIO_PROCESS, 0), score, os.sched_getaffinity(0)


def _stop_running(*_: object) -> None:
    for shim in _running:
        shim.stop()


def _kill_running(*_: object) -> None:
    for shim in _running:
        shim.kill_now()


def _on_signals() -> int:
    """Install the handlers once; the wakeup pipe's read end (a signal wakes the watch loop)."""
    wake_r, wake_w = os.pipe()
    for fd in (wake_r, wake_w):
        os.set_blocking(fd, False)
        os.set_inheritable(fd, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.signal(signal.SIGTERM, _stop_running)
    signal.signal(signal.SIGUSR1, _kill_running)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the supervisor, which says what to do
    return wake_r


def _read(channel: _socket.socket, size: int, start: bytes = b"") -> bytes:
    data = start
    while len(data) < size:
        chunk = channel.recv(size - len(data))
        if not chunk:
            raise EOFError("the supervisor closed the request half-sent")
        data += chunk
    return data


def receive(channel: _socket.socket) -> tuple[list[int], list[bytes]] | None:
    """The next request: its file descriptors (close-on-exec) and fields; None once the supervisor
    closed its end. The fields are NUL-separated (NUL is in no argv, path or environment)."""
    header, ancillary, _, _ = channel.recvmsg(_HEADER, _socket.CMSG_SPACE(_FDS * 4), _socket.MSG_CMSG_CLOEXEC)
    if not header:
        return None
    fds = [
        int.from_bytes(data[i : i + 4], sys.byteorder, signed=True)
        for level, kind, data in ancillary
        if (level, kind) == (_socket.SOL_SOCKET, _socket.SCM_RIGHTS)
        for i in range(0, len(data) - len(data) % 4, 4)
    ]
    size = int.from_bytes(_read(channel, _HEADER, header), "little")
    return fds, _read(channel, size).split(b"\0")


def run_request(
    channel: _socket.socket, fds: list[int], fields: list[bytes], *, wake: int, as_started: tuple[object, ...]
) -> bool:
    """One request: [grace, broken faults, cwd, argc, *argv, *environment] with [FEED, REPORT, LOG].
    False once this shim retires: after a command it could not contain (its survivors would be the
    next one's strays), or before one that would inherit what an earlier one changed."""
    feed, report, log = fds
    if _inherited() != as_started:
        channel.send(RETIRED)
        for fd in fds:
            os.close(fd)
        return False
    grace, broken, cwd, argc = float(fields[0]), fields[1].decode(), os.fsdecode(fields[2]), int(fields[3])
    argv = [os.fsdecode(arg) for arg in fields[4 : 4 + argc]]
    env = dict(os.fsdecode(item).split("=", 1) for item in fields[4 + argc :] if item)
    for fd in (1, 2):
        os.dup2(log, fd)  # the command's output and our messages: the run log
    os.close(log)
    if "PATH" in env:  # posix_spawnp searches the caller's PATH: the command's
        os.environ["PATH"] = env["PATH"]
    else:
        os.environ.pop("PATH", None)
    shim = Shim(feed, report, grace, broken=set(filter(None, broken.split(","))), wake=wake)
    strays: dict[int, str] = {}
    start_error: str | None
    try:
        os.chdir(cwd)
    except OSError as exc:
        start_error = f"could not start {argv[0]!r}: {exc.strerror or exc}"
        tell_log(start_error)
    else:
        start_error = shim.start(argv, env)
    # The answer comes once the command is in its own process group (posix_spawn returns after its
    # exec), and this shim stops it from then on: a stop sent to our group from then reaches the
    # command, never the command in the making (in our group until its exec: killed by the signal).
    _running.append(shim)
    channel.send(READY)
    if start_error is None:
        shim.watch()
        strays = shim.contain()
    _running.clear()
    # The worktree and the log are let go before the report: once it is read, the supervisor's own
    # net takes a descendant working in the worktree for a stray.
    os.chdir("/")
    os.close(feed)
    null = os.open(os.devnull, os.O_WRONLY)
    for fd in (1, 2):
        os.dup2(null, fd)
    os.close(null)
    shim.finish(start_error=start_error, strays=strays)
    return shim.contained


def serve(control: int) -> int:
    """Run the commands requested on `control` one after another, until the supervisor closes it."""
    adopt_orphans()
    wake, as_started = _on_signals(), _inherited()
    os.set_inheritable(control, False)
    channel = _socket.socket(fileno=control)
    while (request := receive(channel)) is not None:
        if not run_request(channel, *request, wake=wake, as_started=as_started):
            break
    return 0


if __name__ == "__main__":
    sys.exit(serve(int(sys.argv[1])))
