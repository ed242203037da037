"""Run one command under a shim (`shim/`), output streamed to a file, with a timeout and a deadline.

The only module that starts a run's processes. The shim, not this process, starts the command,
kills it at its lease deadline, and kills whatever it left behind: it works while we are frozen.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import select
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from parallel_runs.core.policy import shell_exit_code
from parallel_runs.shim.client import SHIM_EXIT_SECONDS, ShimProcess, done_with, send_command, signal_run

__all__ = [
    "CommandResult",
    "Deadline",
    "run_command",
    "signal_run",
]

log = logging.getLogger(__name__)

_LONGEST_POLL = 3600.0  # seconds: poll() takes at most 2**31 - 1 ms, and a --timeout may be a year


@dataclass(frozen=True, slots=True)
class CommandResult:
    """How a command ended. `exit_code` is 128+N for signal N (as a shell says), None if it never started.

    `lapsed`: killed (or not started) because its lease deadline passed; `strays`: the (pid, command
    line) of processes that had left its process group, killed when it ended.
    """

    exit_code: int | None
    timed_out: bool
    start_error: str | None = None
    lapsed: bool = False
    strays: tuple[tuple[int, str], ...] = ()


class Deadline:
    """A CLOCK_MONOTONIC moment by which a run's processes must be stopped, fed to its live shims."""

    def __init__(self, at: float | None = None) -> None:
        self._lock = threading.Lock()
        self._at = at
        self._feeds: set[int] = set()

    @property
    def at(self) -> float | None:
        """The current deadline (time.monotonic() scale), None for none."""
        with self._lock:
            return self._at

    def extend(self, at: float) -> None:
        """Move the deadline (a renewal); every shim of the run learns it at once."""
        with self._lock:
            self._at = at
            for fd in self._feeds:
                _send(fd, at)

    @contextlib.contextmanager
    def feeding(self) -> Iterator[int]:
        """A pipe's read end that carries this deadline to one shim while the context lasts."""
        read, write = os.pipe()
        os.set_blocking(write, False)  # a frozen shim must never block a renewal
        try:
            with self._lock:
                if self._at is not None:
                    _send(write, self._at)
                self._feeds.add(write)
            yield read
        finally:
            with self._lock:
                self._feeds.discard(write)
            os.close(read)
            os.close(write)


def _send(fd: int, at: float) -> None:
    with contextlib.suppress(OSError):  # a full pipe (shim frozen) or a shim gone: it has its deadline
        os.write(fd, f"{at!r}\n".encode())


def _readable(fd: int, timeout: float | None) -> bool:
    """Wait until `fd` can be read (or is at its end); False if `timeout` seconds passed first."""
    poller = select.poll()  # not select(): a busy process may hold descriptors above 1024
    poller.register(fd, select.POLLIN)
    until = None if timeout is None else time.monotonic() + timeout
    while True:
        left = _LONGEST_POLL if until is None else min(_LONGEST_POLL, max(0.0, until - time.monotonic()))
        if poller.poll(int(left * 1000)):
            return True
        if until is not None and time.monotonic() >= until:
            return False


def _stop(shim: ShimProcess, report: int, *, grace: float) -> None:
    """Ask the shim to stop the tree; it kills what is left after `grace` seconds, then reports."""
    signal_run(shim.process.pid, hard=False)
    if not _readable(report, grace + SHIM_EXIT_SECONDS):
        shim.kill()


def _report(report: BinaryIO, shim: ShimProcess) -> CommandResult:
    """What the shim reported; a shim that died without a report leaves only its exit status."""
    raw = report.read()
    # JSON, not a Python literal: CPython 3.11's ast is not thread-safe, and ast.literal_eval in
    # several worker threads at once failed with "AST constructor recursion depth mismatch" (chaos R11).
    try:
        document = json.loads(raw)
    except ValueError:
        return CommandResult(exit_code=shell_exit_code(shim.ended()), timed_out=False)
    return CommandResult(
        exit_code=document["status"],
        timed_out=False,
        start_error=document["start_error"],
        lapsed=bool(document["lapsed"]),
        strays=tuple((int(pid), str(command)) for pid, command in document["strays"]),
    )


def run_command(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    log_path: Path,
    timeout: float | None,
    grace: float,
    on_start: Callable[[int], None] | None = None,
    deadline: Deadline | None = None,
) -> CommandResult:
    """Run argv under a shim in a new session; its whole tree dies on timeout, deadline or exit.

    On timeout or interruption the tree gets SIGTERM, then SIGKILL after `grace` seconds. `on_start`
    gets the shim's pid (its own process group): `signal_run` stops the run through it. Inside
    `shared_shim`, the thread's commands share one shim; otherwise each starts its own.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as output, (deadline or Deadline()).feeding() as feed:
        report_read, report_write = os.pipe()
        try:
            shim = send_command(
                argv, cwd=cwd, env=env, grace=grace, fds=[feed, report_write, output.fileno()]
            )
        except OSError as exc:
            os.close(report_read)
            message = f"could not start {argv[0]!r}: {exc.strerror or exc}"
            output.write(f"parallel-runs: {message}\n".encode())
            return CommandResult(exit_code=None, timed_out=False, start_error=message)
        finally:
            os.close(report_write)
        with os.fdopen(report_read, "rb") as report:
            try:
                timed_out = _wait(
                    shim, report_read, timeout=timeout, grace=grace, on_start=on_start, output=output
                )
                ended = _report(report, shim)
            finally:
                done_with(shim)
    return CommandResult(
        exit_code=ended.exit_code,
        timed_out=timed_out,
        start_error=ended.start_error,
        lapsed=ended.lapsed,
        strays=ended.strays,
    )


def _wait(
    shim: ShimProcess,
    report: int,
    *,
    timeout: float | None,
    grace: float,
    on_start: Callable[[int], None] | None,
    output: BinaryIO,
) -> bool:
    """Wait for the shim's report; True if the timeout stopped the command."""
    try:
        if on_start is not None:  # inside the try: if it fails, the tree is still stopped
            on_start(shim.process.pid)
        if _readable(report, timeout):
            return False
    except BaseException:
        # Interrupted while waiting (Ctrl-C in the main thread): never leave the tree behind.
        _stop(shim, report, grace=grace)
        raise
    output.write(f"\nparallel-runs: timed out after {timeout}s; stopping the run\n".encode())
    output.flush()
    _stop(shim, report, grace=grace)
    return True
