"""Run one command in its own process group, output streamed to a file, with a timeout.

The only module that starts a run's processes.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from parallel_runs.core.policy import shell_exit_code

__all__ = ["CommandResult", "kill_process_group", "process_group_alive", "run_command"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CommandResult:
    """How a command ended. `exit_code` is 128+N for signal N (as a shell says), None if it never started."""

    exit_code: int | None
    timed_out: bool
    start_error: str | None = None


def process_group_alive(pgid: int) -> bool:
    """True while any process of the group exists (zombies of our own children excluded by wait)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def kill_process_group(pgid: int, sig: signal.Signals = signal.SIGKILL) -> bool:
    """Send `sig` to a whole process group; False if the group was already gone."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    return True


def _terminate(process: subprocess.Popen[bytes], *, grace: float) -> None:
    """SIGTERM the group, then SIGKILL whatever is left after `grace` seconds."""
    kill_process_group(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        log.info("process group %d ignored SIGTERM for %.1fs; killing it", process.pid, grace)
    kill_process_group(process.pid, signal.SIGKILL)
    process.wait()


def _reap_group_members(pgid: int) -> None:
    """Reap ended members of the group that were re-parented to us (we are a child subreaper)."""
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-pgid, os.WNOHANG)[0] > 0:
            pass


def _reap_leftovers(pgid: int, *, deadline: float) -> None:
    """Kill processes the command left running in its group (they would keep touching the worktree)."""
    if not kill_process_group(pgid, signal.SIGKILL):
        return
    while process_group_alive(pgid) and time.monotonic() < deadline:
        _reap_group_members(pgid)
        time.sleep(0.01)


def run_command(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    log_path: Path,
    timeout: float | None,
    grace: float,
    on_start: Callable[[int], None] | None = None,
) -> CommandResult:
    """Run argv in a new session (its own process group); the whole group dies on timeout or exit.

    On timeout or interruption the group gets SIGTERM, then SIGKILL after `grace` seconds.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as output:
        try:
            process = subprocess.Popen(
                list(argv),
                cwd=cwd,
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as exc:
            message = f"could not start {argv[0]!r}: {exc.strerror or exc}"
            output.write(f"parallel-runs: {message}\n".encode())
            return CommandResult(exit_code=None, timed_out=False, start_error=message)
        timed_out = False
        try:
            if on_start is not None:  # inside the try: if it fails, the group is still stopped
                on_start(process.pid)
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            output.write(f"\nparallel-runs: timed out after {timeout}s; stopping the run\n".encode())
            output.flush()
            _terminate(process, grace=grace)
        except BaseException:
            # Interrupted while waiting (Ctrl-C in the main thread): never leave the group behind.
            _terminate(process, grace=grace)
            raise
        finally:
            _reap_leftovers(process.pid, deadline=time.monotonic() + 5)
    return CommandResult(exit_code=shell_exit_code(process.returncode), timed_out=timed_out)
