"""One command under the shim, and everything it starts: its deadline, its stop signals, its end."""

from __future__ import annotations

import _signal as signal  # type: ignore[import-not-found]  # `signal` imports enum: slow to start
import json
import os
import select
import time

from parallel_runs.shim.tree import command_line, descendants, has_children, kill, signal_tree

_CONTAIN_SECONDS = 5.0
_DEFAULT_SIGNALS = (signal.SIGINT, signal.SIGPIPE, signal.SIGXFSZ)


def tell_log(message: str) -> None:
    """One line to the run log (our stderr is the log); a full disk must not stop the shim's work."""
    try:  # noqa: SIM105 (contextlib's import costs every shim's start)
        os.write(2, f"\nparallel-runs: {message}\n".encode(errors="replace"))
    except OSError:
        pass


class Shim:
    """One command and everything it starts."""

    lost = "its lease could not be renewed in time"

    def __init__(self, feed: int, report: int, grace: float, *, broken: set[str], wake: int) -> None:
        self.feed, self.report, self.grace, self.broken, self.wake_r = feed, report, grace, broken, wake
        self.deadline: float | None = None
        self.buffer = b""
        self.child = 0
        self.status: int | None = None
        self.lapsed = False
        self.stop_at: float | None = None  # monotonic time of the SIGTERM: KILL follows after the grace
        self.contained = True  # nothing of the command is left below us
        os.set_blocking(feed, False)

    def stop(self) -> None:
        if self.stop_at is None:
            self.stop_at = time.monotonic()
            signal_tree(signal.SIGTERM)

    def kill_now(self) -> None:
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

    def start(self, argv: list[str], env: dict[str, str]) -> str | None:
        """Start the command in its own process group unless its deadline has passed; why not, if not."""
        fed = self.read_feed()
        if not fed or (self.deadline is not None and time.monotonic() >= self.deadline):
            why = "its lease deadline had passed" if fed else "its supervisor is gone"
            tell_log(f"the command was not started: {why}")
            self.lapsed = True
            return f"not started: {why}"
        try:
            # The signals we ignore (and Python ignores), as a command started by a shell has them.
            self.child = os.posix_spawnp(argv[0], argv, env, setpgroup=0, setsigdef=_DEFAULT_SIGNALS)
        except OSError as exc:
            message = f"could not start {argv[0]!r}: {exc.strerror or exc}"
            tell_log(message)
            return message
        return None

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
        tell_log(
            f"{self.lost} (deadline passed {late:.3f}s ago): killed {killed} process(es) before it lapsed"
        )

    def contain(self) -> dict[int, str]:
        """Kill every process still below us and reap them all; those that had left the group, named."""
        strays: dict[int, str] = {}
        if not has_children():  # none, so no descendant either: each has a parent up to us, alive
            return strays
        self.contained = False
        until = time.monotonic() + _CONTAIN_SECONDS
        while time.monotonic() < until and "contain" not in self.broken:
            found = descendants()
            for pid, (pgid, state) in found.items():
                if pgid != self.child and state != "Z" and pid not in strays:
                    strays[pid] = command_line(pid)
                kill(pid, signal.SIGKILL)
            self.reap()
            if not found:
                break
            time.sleep(0.005)  # the ones just killed become our zombies: reaped on the next pass
        if strays:
            named = ", ".join(f"pid {pid} ({command})" for pid, command in strays.items())
            tell_log(f"stopped {len(strays)} process(es) the run left behind: {named}")
        self.contained = not has_children()  # else the next command would inherit them: the shim retires
        return strays

    def finish(self, *, start_error: str | None, strays: dict[int, str]) -> None:
        """Write the report (the command's status, or why it never started) and close it."""
        document = {
            "status": self.status,
            "start_error": start_error,
            "lapsed": self.lapsed,
            "strays": [[pid, command] for pid, command in strays.items()],
        }
        os.write(self.report, json.dumps(document).encode())
        os.close(self.report)
