"""Issue #16 items 1, 3 and 10 at the process level: the shim kills a command at its lease deadline
(even while the supervisor is frozen), refuses to start it past that deadline, and leaves no
process behind, whatever the command did to its environment, cwd, session or process group."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from parallel_runs.process import Deadline, run_command
from tests.helpers import processes_with, wait_for

# Each outlived its run on c5f4e48, counted as 0 strays (the recipes).
ESCAPES = {
    "env-i-setsid-nohup": "(cd / && env -i setsid nohup sleep {marker} >/dev/null 2>&1 &)",
    "exec-c": "(cd /tmp && setsid bash -c 'exec -c sleep {marker}' >/dev/null 2>&1 &)",
    "trap-term": "(env -i setsid bash -c 'trap \"\" TERM; sleep {marker}' >/dev/null 2>&1 &)",
    "unshare": "(env -i setsid unshare --fork --pid sleep {marker} >/dev/null 2>&1 &)",
    "double-fork": (
        "python3 -c 'import os, time\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
        "        os.closerange(0, 3); time.sleep({marker})'"
    ),
}


def _kill(marker: str) -> None:
    for pid in processes_with(marker):
        os.kill(pid, signal.SIGKILL)


def _unshare_works() -> bool:
    done = subprocess.run(["unshare", "--fork", "--pid", "true"], capture_output=True, check=False)
    return done.returncode == 0


@pytest.mark.parametrize("escape", sorted(ESCAPES))
def test_no_process_a_command_started_outlives_it(tmp_path: Path, escape: str) -> None:
    if escape == "unshare" and not _unshare_works():
        pytest.skip("unshare --pid is not allowed here")  # pragma: no cover (allowed as root and in CI)
    marker = f"{400 + sorted(ESCAPES).index(escape)}.{os.getpid()}"
    command = ESCAPES[escape].format(marker=marker) + "; sleep 0.3"
    try:
        ended = run_command(
            ["bash", "-c", command],
            cwd=tmp_path,
            env=dict(os.environ),
            log_path=tmp_path / "run.log",
            timeout=None,
            grace=1.0,
        )
        assert processes_with(f"sleep {marker}") == []
        assert processes_with(f"sleep({marker})") == []
    finally:
        _kill(marker)
    assert ended.exit_code == 0
    assert len(ended.strays) >= 1, ended
    assert "the run left behind: pid" in (tmp_path / "run.log").read_text()


def test_a_command_is_not_started_past_its_deadline(tmp_path: Path) -> None:
    ran = tmp_path / "ran"
    ended = run_command(
        ["touch", str(ran)],
        cwd=tmp_path,
        env=dict(os.environ),
        log_path=tmp_path / "run.log",
        timeout=None,
        grace=1.0,
        deadline=Deadline(time.monotonic() - 0.001),  # a pause between the last renewal and the start
    )
    assert not ran.exists()
    assert (ended.exit_code, ended.lapsed) == (None, True)
    assert "not started" in (tmp_path / "run.log").read_text()


# A supervisor that runs one command under a deadline 2 s ahead, then prints how it ended.
SUPERVISOR = """
import json, os, sys, time
from pathlib import Path
from parallel_runs.process import Deadline, run_command
work = Path(sys.argv[1])
ended = run_command(["bash", "-c", "echo $$ > pid; exec sleep 300.{marker}"], cwd=work, env=dict(os.environ),
    log_path=work / "run.log", timeout=None, grace=1.0, deadline=Deadline(time.monotonic() + 2.0))
print(json.dumps({{"exit_code": ended.exit_code, "lapsed": ended.lapsed}}))
"""


def _state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def _alive(pid_file: Path) -> bool:
    """Whether the process named in the file runs (a zombie has ended)."""
    text = pid_file.read_text().strip()
    try:
        return (
            bool(text) and "sleep" in Path(f"/proc/{text}/cmdline").read_text() and _state(int(text)) != "Z"
        )
    except OSError:
        return False


def test_a_frozen_supervisor_cannot_keep_a_command_past_its_deadline(tmp_path: Path) -> None:
    script = SUPERVISOR.format(marker=os.getpid())
    argv = [sys.executable, "-c", script, str(tmp_path)]
    supervisor = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    pid = tmp_path / "pid"
    try:
        wait_for(lambda: pid.exists() and _alive(pid), what="the command to start")
        supervisor.send_signal(signal.SIGSTOP)  # frozen: it can neither renew nor stop anything
        # Ten times the deadline's distance: the command must be gone while the supervisor is still frozen.
        wait_for(lambda: not _alive(pid), timeout=20, what="the command to be killed")
        assert _state(supervisor.pid) == "T"
    finally:
        supervisor.send_signal(signal.SIGCONT)
        if pid.exists() and _alive(pid):
            os.kill(int(pid.read_text()), signal.SIGKILL)
        out, _ = supervisor.communicate(timeout=60)
    assert json.loads(out) == {"exit_code": 128 + signal.SIGKILL, "lapsed": True}
    assert "could not be renewed in time" in (tmp_path / "run.log").read_text()


def test_a_command_does_not_outlive_its_killed_supervisor(tmp_path: Path) -> None:
    script = SUPERVISOR.format(marker=os.getpid()).replace(", deadline=Deadline(time.monotonic() + 2.0)", "")
    supervisor = subprocess.Popen([sys.executable, "-c", script, str(tmp_path)], stdout=subprocess.DEVNULL)
    pid = tmp_path / "pid"
    try:
        wait_for(lambda: pid.exists() and _alive(pid), what="the command to start")
        supervisor.kill()  # no lease here (a private store): the shim sees its supervisor gone
        supervisor.wait()
        wait_for(lambda: not _alive(pid), timeout=20, what="the command to be killed")
    finally:
        if pid.exists() and _alive(pid):
            os.kill(int(pid.read_text()), signal.SIGKILL)
    # The shim kills the tree, then says so: under load the line lands after the command is dead.
    log = tmp_path / "run.log"
    wait_for(lambda: "its supervisor is gone" in log.read_text(), timeout=20, what="the shim to say why")


def _runs_sleep(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().startswith(b"sleep\0")
    except OSError:
        return False


def test_the_stray_net_finds_a_runs_processes_by_environment_and_by_working_directory(tmp_path: Path) -> None:
    """The second net (strays.py) without the shim: one process elsewhere with the run's marker, one
    child of ours inside the worktree, and neither of two others (a sibling path, a plain child)."""
    from parallel_runs.strays import stop_strays

    workspace, sibling = tmp_path / "ws", tmp_path / "ws-other"
    (workspace / "sub").mkdir(parents=True)
    sibling.mkdir()
    marked = {**os.environ, "PARALLEL_RUNS_WORKSPACE": str(workspace)}
    started = [
        subprocess.Popen(["sleep", "311.1"], cwd="/", env=marked),
        subprocess.Popen(["sleep", "311.2"], cwd=workspace / "sub"),
        subprocess.Popen(["sleep", "311.3"], cwd=sibling),
        subprocess.Popen(["sleep", "311.4"], cwd="/"),
    ]
    try:
        # The net reads /proc: wait until each child shows as the `sleep` it execs (under load, not at once).
        wait_for(lambda: all(_runs_sleep(process.pid) for process in started), what="the sleeps to start")
        found = stop_strays(workspace)
        assert sorted(stray.pid for stray in found) == [started[0].pid, started[1].pid]
        assert processes_with("sleep 311.1") == processes_with("sleep 311.2") == []  # stopped and reaped
        assert [process.poll() for process in started[2:]] == [None, None]
    finally:
        for process in started:
            process.kill()
            process.wait()


@pytest.mark.parametrize("mark", ["kept", "counter-behind", "lapped"])
def test_the_stray_net_reads_only_processes_started_since_its_mark(tmp_path: Path, mark: str) -> None:
    """With a mark taken when the attempt began, a marked process started before it is not the
    attempt's; where the pid counter wrapped or may have lapped the mark, every process is read."""
    from dataclasses import replace

    from parallel_runs.strays import ProcessMark, stop_strays

    marked = {**os.environ, "PARALLEL_RUNS_WORKSPACE": str(tmp_path)}
    before = subprocess.Popen(["sleep", "312.1"], cwd="/", env=marked)
    wait_for(lambda: _runs_sleep(before.pid), what="the first sleep to start")
    since = ProcessMark.now()
    assert since is not None
    after = subprocess.Popen(["sleep", "312.2"], cwd="/", env=marked)
    pid_max = int(Path("/proc/sys/kernel/pid_max").read_text())
    since = {
        "kept": since,
        "counter-behind": replace(since, last_pid=pid_max),  # ns_last_pid is always below pid_max
        "lapped": replace(since, forks=since.forks - pid_max),  # as many forks since as there are pids
    }[mark]
    try:
        wait_for(lambda: _runs_sleep(after.pid), what="the second sleep to start")
        found = sorted(stray.pid for stray in stop_strays(tmp_path, since))
        assert found == ([after.pid] if mark == "kept" else sorted([before.pid, after.pid]))
        assert (before.poll() is None) is (mark == "kept")
    finally:
        for process in (before, after):
            process.kill()
            process.wait()


def test_what_a_stray_starts_while_it_is_stopped_is_stopped_too(tmp_path: Path) -> None:
    """A stray that answers SIGTERM by starting another process (started after the scan read the
    processes, so no later attempt's scan, which reads only its own, would find it)."""
    from parallel_runs.strays import ProcessMark, stop_strays

    marked = {**os.environ, "PARALLEL_RUNS_WORKSPACE": str(tmp_path)}
    since = ProcessMark.now()
    respawner = subprocess.Popen(
        ["bash", "-c", "trap 'sleep 313.7 &' TERM; while :; do sleep 0.05; done"], cwd="/", env=marked
    )
    try:
        children = Path(f"/proc/{respawner.pid}/task/{respawner.pid}/children")
        wait_for(lambda: children.read_text().strip() != "", what="the loop (its trap set) to run")
        found = stop_strays(tmp_path, since)
        assert respawner.pid in [stray.pid for stray in found]
        assert processes_with("sleep 313.7") == []  # found in the second round, and stopped
        assert len(found) >= 2
    finally:
        respawner.kill()
        respawner.wait()
        _kill("sleep 313.7")
