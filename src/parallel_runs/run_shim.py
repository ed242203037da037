"""The per-run shim: starts a run's command, kills it at its lease deadline, and leaves nothing behind.

Run by `process.run_command` as `python -I -S -c "...import run_shim; run_shim.main(...)" FEED_FD
REPORT_FD GRACE [--broken=F...] -- ARGV...` (imported, so its bytecode is cached), in its own
session. It imports only the standard library (nothing of parallel_runs), so it starts in
milliseconds and keeps working while the supervisor is frozen, hung or dead:

- It is a child subreaper: whatever the command starts, whatever it does to its environment, cwd,
  session or process group, its orphans are re-parented here, so a /proc walk from here finds them.
- FEED_FD carries absolute CLOCK_MONOTONIC deadlines, one a line (each lease renewal moves it on).
  Past the deadline the command is not started, or the whole tree is killed: the lease is about to
  lapse and another worker may take the run. End of file means the supervisor is gone: same.
- SIGTERM stops the tree (TERM, KILL after GRACE seconds); SIGUSR1 kills it at once.
- When the command ends, every process left is killed. REPORT_FD gets one Python literal (a dict): the
  command's status (128+N for signal N), why it never started, whether the deadline killed it, and
  the processes that had left its process group.

`--broken=watchdog` and `--broken=contain` come only from `make chaos-proof` (testing_faults).
"""

from __future__ import annotations

import _ctypes  # `ctypes` takes 3 ms to import, a tenth of a no-op run: prctl is called through its core
import _signal as signal  # type: ignore[import-not-found]  # `signal` imports enum: slow to start
import os
import select
import sys
import time

_PR_SET_CHILD_SUBREAPER = 36
_PROC = "/proc"
_CONTAIN_SECONDS = 5.0


class _CInt(_ctypes._SimpleCData):  # type: ignore[type-arg]  # what ctypes.c_int is
    _type_ = "i"


class _CFunction(_ctypes.CFuncPtr):  # what ctypes.CDLL makes of a C function
    _flags_ = _ctypes.FUNCFLAG_CDECL
    _restype_ = _CInt


class _Libc:  # the process's own symbols, as ctypes.CDLL(None)
    _handle = _ctypes.dlopen(None)  # type: ignore[arg-type]  # typeshed misses dlopen(NULL)


def _become_subreaper() -> None:
    """Orphans of the command's tree become our children (prctl PR_SET_CHILD_SUBREAPER)."""
    _CFunction(("prctl", _Libc()))(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)  # type: ignore[arg-type]


def _say(message: str) -> None:
    """One line to the run log (our stderr is the log); a full disk must not stop the shim's work."""
    try:  # noqa: SIM105 (contextlib's import costs every run)
        os.write(2, f"\nparallel-runs: {message}\n".encode(errors="replace"))
    except OSError:
        pass


def _stat(pid: int) -> tuple[int, int, str] | None:
    """(ppid, pgid, state) of a process, or None if it is gone."""
    try:
        with open(f"{_PROC}/{pid}/stat", "rb") as stat:
            fields = stat.read().rsplit(b") ", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[1]), int(fields[2]), fields[0].decode()


def _command_line(pid: int) -> str:
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


def _kill(pid: int, sig: int) -> None:
    # try/except, not contextlib.suppress: importing contextlib costs every run milliseconds
    try:  # noqa: SIM105
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def signal_tree(sig: int) -> int:
    """Send `sig` to every process below this one; how many there were."""
    found = descendants()
    for pid in found:
        _kill(pid, sig)
    return len(found)


class Shim:
    """One command and everything it starts."""

    lost = "its lease could not be renewed in time"

    def __init__(self, feed: int, report: int, grace: float, *, broken: set[str]) -> None:
        self.feed, self.report, self.grace, self.broken = feed, report, grace, broken
        self.deadline: float | None = None
        self.buffer = b""
        self.child = 0
        self.status: int | None = None
        self.lapsed = False
        self.stop_at: float | None = None  # monotonic time of the SIGTERM: KILL follows after the grace
        self.wake_r, wake_w = os.pipe()
        for fd in (self.wake_r, wake_w):
            os.set_blocking(fd, False)
        os.set_blocking(feed, False)
        for fd in (feed, report):
            os.set_inheritable(fd, False)  # the command must not hold them (EOF must mean "gone")
        signal.set_wakeup_fd(wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGUSR1, self._kill_now)
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the supervisor, which says what to do

    def _stop(self, *_: object) -> None:
        if self.stop_at is None:
            self.stop_at = time.monotonic()
            signal_tree(signal.SIGTERM)

    def _kill_now(self, *_: object) -> None:
        self.stop_at = time.monotonic() - self.grace
        signal_tree(signal.SIGKILL)

    def read_feed(self) -> bool:
        """Take every deadline sent so far; False once the supervisor closed its end."""
        while True:
            try:
                chunk = os.read(self.feed, 4096)
            except BlockingIOError:
                return True
            if not chunk:
                return False
            self.buffer += chunk
            *lines, self.buffer = self.buffer.split(b"\n")
            for line in lines:
                self.deadline = float(line) if line.strip() and "watchdog" not in self.broken else None

    def start(self, argv: list[str]) -> bool:
        """Start the command in its own process group unless its deadline has passed; False if not."""
        fed = self.read_feed()
        if not fed or (self.deadline is not None and time.monotonic() >= self.deadline):
            why = "its lease deadline had passed" if fed else "its supervisor is gone"
            _say(f"the command was not started: {why}")
            self.lapsed = True
            self.finish(None, start_error=f"not started: {why}")
            return False
        try:
            self.child = os.posix_spawnp(argv[0], argv, os.environ, setpgroup=0)
        except OSError as exc:
            message = f"could not start {argv[0]!r}: {exc.strerror or exc}"
            _say(message)
            self.finish(None, start_error=message)
            return False
        return True

    def reap(self) -> bool:
        """Collect ended children; True once the command itself has ended."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return self.status is not None
            if pid == 0:
                return self.status is not None
            if pid == self.child:
                code = os.waitstatus_to_exitcode(status)
                self.status = 128 - code if code < 0 else code

    def wait_timeout(self, now: float) -> float | None:
        """Until the next thing to do (the deadline, the end of the grace); None: until a signal."""
        moments = [self.deadline] if self.deadline is not None and not self.lapsed else []
        if self.stop_at is not None:
            moments.append(self.stop_at + self.grace)
        return None if not moments else max(0.0, min(moments) - now)

    def watch(self) -> None:
        """Until the command ends: follow the feed, the stop signals and the deadline."""
        feed_open = True
        while not self.reap():
            watched = [self.feed, self.wake_r] if feed_open else [self.wake_r]
            select.select(watched, [], [], self.wait_timeout(time.monotonic()))
            try:
                while os.read(self.wake_r, 512):
                    pass
            except BlockingIOError:
                pass
            if feed_open and not self.read_feed():
                feed_open = False  # the supervisor is gone: nobody renews the lease
                if "watchdog" not in self.broken:
                    self.deadline, self.lost = time.monotonic(), "its supervisor is gone"
            now = time.monotonic()
            if self.deadline is not None and now >= self.deadline and not self.lapsed:
                self.lapsed = True  # once: the tree is killed, the command's end is all that is left
                self.kill_on_deadline(now)
            if self.stop_at is not None and now >= self.stop_at + self.grace:
                signal_tree(signal.SIGKILL)
                self.stop_at = None  # killed: a later SIGTERM starts another grace

    def kill_on_deadline(self, now: float) -> None:
        killed = signal_tree(signal.SIGKILL)
        late = now - (self.deadline or now)
        _say(f"{self.lost} (deadline passed {late:.3f}s ago): killed {killed} process(es) before it lapsed")

    def contain(self) -> dict[int, str]:
        """Kill every process still below us and reap them all; those that had left the group, named."""
        strays: dict[int, str] = {}
        until = time.monotonic() + _CONTAIN_SECONDS
        while time.monotonic() < until and "contain" not in self.broken:
            found = descendants()
            for pid, (pgid, state) in found.items():
                if pgid != self.child and state != "Z" and pid not in strays:
                    strays[pid] = _command_line(pid)
                _kill(pid, signal.SIGKILL)
            self.reap()
            if not found:
                break
            time.sleep(0.005)  # the ones just killed become our zombies: reaped on the next pass
        if strays:
            named = ", ".join(f"pid {pid} ({command})" for pid, command in strays.items())
            _say(f"stopped {len(strays)} process(es) the run left behind: {named}")
        return strays

    def finish(
        self, status: int | None, *, start_error: str | None = None, strays: dict[int, str] | None = None
    ) -> None:
        document = {
            "status": status,
            "start_error": start_error,
            "lapsed": self.lapsed,
            "strays": [[pid, command] for pid, command in (strays or {}).items()],
        }
        os.write(self.report, repr(document).encode())  # a Python literal: json costs its import
        os.close(self.report)


def main(args: list[str]) -> int:
    """Run the command of `args` (see the module's docstring); the command's exit status."""
    split = args.index("--")
    feed, report, grace = int(args[0]), int(args[1]), float(args[2])
    broken = {flag.removeprefix("--broken=") for flag in args[3:split]}
    _become_subreaper()
    shim = Shim(feed, report, grace, broken=broken)
    if not shim.start(args[split + 1 :]):
        return 127
    shim.watch()
    strays = shim.contain()
    shim.finish(shim.status, strays=strays)
    return shim.status or 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
