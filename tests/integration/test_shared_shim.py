"""A worker thread's commands share one shim process (P1: an interpreter's start was 12 ms a run), and
each still runs as if its shim were its own: its cwd, environment and PATH, its stop signals, its
end. The shim goes when the thread stops sharing it, and a dead one is replaced."""

from __future__ import annotations

import os
import signal
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from parallel_runs import testing_faults
from parallel_runs.cli import main
from parallel_runs.process import CommandResult, run_command, signal_run
from parallel_runs.shim.client import shared_shim
from tests.helpers import processes_with, wait_for

Run = Callable[..., tuple[CommandResult, int]]


@pytest.fixture
def run(tmp_path: Path) -> Run:
    """Run a shell command (or `argv`); (its result, the pid its shim reported)."""

    def command(
        script: str,
        *,
        cwd: Path = tmp_path,
        env: dict[str, str] | None = None,
        timeout: float | None = None,
        argv: list[str] | None = None,
    ) -> tuple[CommandResult, int]:
        started: list[int] = []
        ended = run_command(
            argv or ["sh", "-c", script],
            cwd=cwd,
            env=dict(os.environ) if env is None else env,
            log_path=tmp_path / "run.log",
            timeout=timeout,
            grace=1.0,
            on_start=started.append,
        )
        return ended, started[0]

    return command


def _alive(pid: int) -> bool:
    """Running (a process that died and was not reaped yet is a zombie: not alive)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1][:1] != "Z"
    except OSError:
        return False


def test_a_thread_s_commands_share_one_shim_and_each_gets_its_own_otherwise(run: Run, tmp_path: Path) -> None:
    with shared_shim():
        (first, shim), (second, again) = run("exit 3"), run("exit 4")
        assert (first.exit_code, second.exit_code) == (3, 4)
        assert shim == again
        assert _alive(shim)
    wait_for(lambda: not _alive(shim), what="the shim to exit once its thread stops sharing it")
    (_, one), (_, other) = run("true"), run("true")
    assert one != other


def test_each_command_has_its_own_cwd_environment_and_path(run: Run, tmp_path: Path) -> None:
    first, second, tools = tmp_path / "first", tmp_path / "second", tmp_path / "tools"
    for directory in (first, second, tools):
        directory.mkdir()
    tool = tools / "only-here"
    tool.write_text("#!/bin/sh\necho found-on-path\n")
    tool.chmod(tool.stat().st_mode | stat.S_IXUSR)
    with shared_shim():
        run('pwd > out; echo "$ONLY_FIRST" >> out', cwd=first, env={**os.environ, "ONLY_FIRST": "yes"})
        path = f"{tools}:{os.environ['PATH']}"
        ended, _ = run(
            'pwd > out; echo "[$ONLY_FIRST]" >> out; only-here >> out',
            cwd=second,
            env={**os.environ, "PATH": path},
        )
        assert ended.exit_code == 0
        found, _ = run("", argv=["only-here"], cwd=second, env={**os.environ, "PATH": path})
        missing, _ = run("", argv=["only-here"], cwd=second)  # not on this command's PATH
    assert (first / "out").read_text().split() == [str(first), "yes"]
    assert (second / "out").read_text().split() == [str(second), "[]", "found-on-path"]
    assert found.exit_code == 0
    assert missing.start_error is not None
    assert "only-here" in missing.start_error


def test_a_stop_signal_after_a_command_ended_does_not_stop_the_next(run: Run) -> None:
    with shared_shim():
        _, shim = run("true")
        os.kill(shim, signal.SIGTERM)  # a late stop of the run that just ended
        os.kill(shim, signal.SIGUSR1)
        ended, again = run("sleep 0.3; exit 5")
    assert (ended.exit_code, ended.timed_out, again) == (5, False, shim)


def test_a_timed_out_command_is_stopped_and_the_shim_serves_the_next(run: Run) -> None:
    with shared_shim():
        late, shim = run("sleep 30", timeout=0.3)
        ended, again = run("exit 6")
    assert late.timed_out
    assert late.exit_code == 128 + signal.SIGTERM
    assert (ended.exit_code, again) == (6, shim)


def test_a_shim_that_died_between_commands_is_replaced(run: Run) -> None:
    with shared_shim():
        _, shim = run("true")
        os.kill(shim, signal.SIGKILL)
        wait_for(lambda: not _alive(shim), what="the shim to die")
        ended, other = run("exit 7")
    assert (ended.exit_code, other != shim) == (7, True)


def test_a_missing_cwd_is_a_start_error_and_the_shim_serves_the_next(run: Run, tmp_path: Path) -> None:
    with shared_shim():
        missing, shim = run("true", cwd=tmp_path / "gone")
        ended, again = run("exit 8")
    assert missing.exit_code is None
    assert "could not start 'sh'" in (missing.start_error or "")
    assert (ended.exit_code, again) == (8, shim)


def test_a_worker_s_runs_setup_and_test_phases_share_its_shim(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parents = tmp_path / "parents"  # each command's parent: the shim that started it
    monkeypatch.chdir(repo)
    record = f"echo $PPID >> {parents}"
    batch = ["run", "--batch-id", "one-shim", "--run-ids", "a,b,c", "--workers", "1"]
    assert main([*batch, "--command", record, "--setup-command", record, "--test-command", record]) == 0
    # The baseline's setup and test command at the base commit first (each its own shim, on the main
    # thread), then a setup, a command and a test phase for each of the three runs: one shim.
    shims = parents.read_text().split()
    assert len(shims) == 2 + 9
    assert len(set(shims[-9:])) == 1
    assert shims[-1] not in shims[:2]


@pytest.mark.parametrize(("hard", "status"), [(True, 128 + signal.SIGKILL), (False, 128 + signal.SIGTERM)])
def test_a_stop_sent_as_the_command_registers_reaches_it(tmp_path: Path, hard: bool, status: int) -> None:
    # control.register stops a command of a stopping batch from on_start: the shim took the command
    # before run_command says it started, so the signal cannot land while it is still between commands.
    with shared_shim():
        for _ in range(5):
            ended = run_command(
                ["sleep", "30"],
                cwd=tmp_path,
                env=dict(os.environ),
                log_path=tmp_path / "run.log",
                timeout=None,
                grace=30.0,
                on_start=lambda pid: signal_run(pid, hard=hard),
            )
            assert ended.exit_code == status


def test_a_command_starts_with_the_signals_a_shell_gives_it(run: Run, tmp_path: Path) -> None:
    with shared_shim():
        run("grep SigIgn /proc/self/status > ignored")
    ignored = int((tmp_path / "ignored").read_text().split()[1], 16)
    for sig in (signal.SIGINT, signal.SIGPIPE, signal.SIGXFSZ):
        assert not ignored & (1 << (sig - 1)), sig.name


def test_a_shim_a_command_reniced_retires_before_the_next(run: Run, tmp_path: Path) -> None:
    with shared_shim():
        _, shim = run("renice -n 7 -p $PPID")
        _, other = run("nice > niceness")
    assert other != shim
    assert (tmp_path / "niceness").read_text().strip() == str(os.nice(0))


def test_a_shim_that_could_not_contain_a_command_retires(
    run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(testing_faults.ENV, "contain")  # the shim leaves the command's survivor below it
    marker = f"{500 + os.getpid() % 100}.5"
    try:
        with shared_shim():
            _, shim = run(f"sleep {marker} & true")
            _, other = run("true")
        assert other != shim  # the survivor is not the next command's stray
    finally:
        for pid in processes_with(f"sleep {marker}"):
            os.kill(pid, signal.SIGKILL)


def test_a_timeout_of_a_year_is_a_timeout(run: Run) -> None:
    ended, _ = run("exit 9", timeout=365 * 86400.0)
    assert (ended.exit_code, ended.timed_out) == (9, False)


def test_a_nul_byte_in_the_environment_is_refused_not_passed_on(run: Run) -> None:
    with pytest.raises(ValueError, match="embedded null byte"):
        run("true", env={**os.environ, "X": "a\0Y=injected"})
