"""The supervisor's side of the shim: a shim process per thread that runs commands, one at a time.

Not imported by the shim itself (it imports the rest of parallel_runs).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from parallel_runs import testing_faults
from parallel_runs.shim.serve import READY, RETIRED

__all__ = [
    "SHIM_EXIT_SECONDS",
    "ShimProcess",
    "ShimStuck",
    "done_with",
    "send_command",
    "shared_shim",
    "signal_run",
]

log = logging.getLogger(__name__)

_SOURCES = Path(__file__).resolve().parents[2]  # the directory parallel_runs is imported from
SHIM_EXIT_SECONDS = 10.0  # beyond the grace: how long a stopped shim may take to clean up
# How long a shim may take to answer a request (microseconds of its work): it guards against a frozen
# shim only, so it is long enough for a machine under any load.
_ANSWER_SECONDS = 60.0


def signal_run(pid: int, *, hard: bool) -> bool:
    """Stop a run's shim's tree: gracefully (TERM, KILL after the grace) or at once; False if gone."""
    try:
        os.killpg(pid, signal.SIGUSR1 if hard else signal.SIGTERM)  # the shim's group: the shim alone
    except ProcessLookupError:
        return False
    return True


class _Refused(OSError):
    """The shim did not take the command and never will: another shim may be asked."""


class ShimStuck(OSError):
    """The shim did not answer in time: it was killed, and no other copy of the command may start."""


# Imported, not run as a script: a script is compiled at every start (2 ms), a module's bytecode is
# cached. Our sources' directory goes last on the path: nothing there can stand in for the standard
# library.
_SHIM_MAIN = "; ".join(
    (
        f"import sys; sys.path.append({str(_SOURCES)!r})",
        "from parallel_runs.shim.serve import serve",
        "sys.exit(serve(int(sys.argv[1])))",
    )
)


class ShimProcess:
    """A shim process (`shim/serve.py`) and our end of its control socket: one command at a time."""

    def __init__(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            # -I -S: no site, no user paths, nothing of ours imported: the shim starts in milliseconds.
            self.process = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", _SHIM_MAIN, str(theirs.fileno())],
                cwd="/",
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
                pass_fds=(theirs.fileno(),),
            )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        self.control = ours

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def send(
        self, argv: Sequence[str], *, cwd: Path, env: Mapping[str, str], grace: float, fds: list[int]
    ) -> None:
        """Ask for one command: its fields NUL-separated, with FEED, REPORT and the log's descriptors.
        Returns once the shim took it (a stop signal reaches the command from then on); _Refused if it
        did not, when asking another shim is safe; ShimStuck if it did not answer."""
        broken = ",".join(fault for fault in ("watchdog", "contain") if testing_faults.is_broken(fault))
        fields = [repr(grace), broken, str(cwd), str(len(argv)), *argv, *(f"{k}={v}" for k, v in env.items())]
        if any("\0" in field for field in fields):
            raise ValueError("embedded null byte")  # as subprocess says: no argv or environment holds one
        request = b"\0".join(os.fsencode(field) for field in fields)
        try:
            socket.send_fds(self.control, [len(request).to_bytes(8, "little")], fds)
            self.control.sendall(request)
        except OSError as exc:
            raise _Refused(f"the shim is gone: {exc}") from exc
        self.control.settimeout(_ANSWER_SECONDS)
        try:
            answer = self.control.recv(1)
        except TimeoutError:
            # It may have started the command by now: stop its tree (whatever it does, the attempt's
            # stray net finds the rest) and start no other copy of it.
            signal_run(self.process.pid, hard=True)
            self.kill()
            raise ShimStuck(f"the shim did not take the command within {_ANSWER_SECONDS:.0f}s") from None
        except OSError as exc:  # it closed its end with the request unread: reset, never taken
            raise _Refused(f"the shim is gone: {exc}") from exc
        finally:
            self.control.settimeout(None)
        if answer != READY:  # it died before taking it, or it retired: the command was not started
            raise _Refused("the shim retired" if answer == RETIRED else "the shim is gone")

    def kill(self) -> None:
        """The shim itself is stuck: killed (the stray net catches what it leaves)."""
        log.warning("the shim of process group %d is stuck; killing it", self.process.pid)
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()
        self.process.wait()

    def ended(self) -> int:
        """Its exit status, once it exited (killed if it has not within SHIM_EXIT_SECONDS)."""
        try:
            return self.process.wait(timeout=SHIM_EXIT_SECONDS)
        except subprocess.TimeoutExpired:
            self.kill()
            return self.process.returncode

    def close(self) -> None:
        """No more commands: the shim exits once it sees our end closed."""
        self.control.close()
        self.ended()


_THREAD = threading.local()  # `kept`: the shim that this thread's commands share (`shared_shim`)


@contextlib.contextmanager
def shared_shim() -> Iterator[None]:
    """The commands this thread runs in the block share one shim process, started at the first."""
    _THREAD.keep = True
    try:
        yield
    finally:
        _THREAD.keep = False
        kept: ShimProcess | None = _THREAD.__dict__.pop("kept", None)
        if kept is not None:
            kept.close()


def _this_thread_s() -> ShimProcess:
    """This thread's kept shim if it is alive, else a new one (kept if the thread keeps one)."""
    kept: ShimProcess | None = _THREAD.__dict__.get("kept")
    if kept is not None and kept.alive:
        return kept
    if kept is not None:
        _forget(kept)  # died (killed at a timeout, or by someone): its socket goes too
    shim = ShimProcess()
    if _THREAD.__dict__.get("keep"):
        _THREAD.kept = shim
    return shim


def _forget(shim: ShimProcess) -> None:
    if _THREAD.__dict__.get("kept") is shim:
        del _THREAD.kept
    shim.close()


def _asked(shim: ShimProcess, **command: Any) -> ShimProcess:
    """`shim`, having taken the command; a shim that did not is let go."""
    try:
        shim.send(**command)
    except BaseException:
        _forget(shim)
        raise
    return shim


def send_command(
    argv: Sequence[str], *, cwd: Path, env: Mapping[str, str], grace: float, fds: list[int]
) -> ShimProcess:
    """This thread's shim, having taken one command (fds: FEED, REPORT, the log). A kept shim that died
    or retired since its last command is replaced, once; OSError if no shim could take it."""
    command = {"argv": argv, "cwd": cwd, "env": env, "grace": grace, "fds": fds}
    try:
        return _asked(_this_thread_s(), **command)
    except _Refused:  # it never took the command: another shim may
        return _asked(_this_thread_s(), **command)


def done_with(shim: ShimProcess) -> None:
    """The command's report is in: a shim of its own goes, the thread's kept one stays."""
    if _THREAD.__dict__.get("kept") is not shim:
        shim.close()
