"""Leases and executor locks against real competing processes and threads (no mocks, barriers not sleeps)."""

from __future__ import annotations

import contextlib
import json
import logging
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from parallel_runs.core.layout import RunPaths, lease_path_for
from parallel_runs.errors import EXIT_HELD, AlreadyHeldError
from parallel_runs.locks import OwnedLock, RunLock, WorktreeLease
from tests.helpers import wait_for

# A separate Python process that holds locks on command: one request line in, one reply line out.
AGENT = r"""
import json, os, subprocess, sys, time
from pathlib import Path
from parallel_runs.locks import OwnedLock

lock = OwnedLock(Path(sys.argv[1]), what="the test lock", attempt=int(sys.argv[2]))

def reply(text):
    sys.stdout.write(text + "\n")
    sys.stdout.flush()

reply(f"pid {os.getpid()}")
for line in sys.stdin:
    command, _, arg = line.strip().partition(" ")
    if command == "acquire":
        reply(f"acquired {lock.acquire()}")
    elif command == "release":
        lock.release()
        reply("released")
    elif command == "update":
        key, _, value = arg.partition("=")
        lock.update_record(**{key: json.loads(value)})
        reply("updated")
    elif command == "popen":
        child = subprocess.Popen(["sleep", "600"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        reply(f"child {child.pid}")
    elif command == "fork":
        pid = os.fork()
        if pid == 0:  # a forked child that never execs: only filelock's at-fork cleanup closes the lock fd
            null = os.open(os.devnull, os.O_RDWR)
            os.dup2(null, 0)
            os.dup2(null, 1)
            time.sleep(600)
            os._exit(0)
        reply(f"child {pid}")
"""


class Agent:
    """A live lock-holding process driven through its stdin/stdout."""

    def __init__(self, path: Path, attempt: int) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", AGENT, str(path), str(attempt)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.pid = int(self.ask(None).split()[1])

    def ask(self, command: str | None) -> str:
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        if command is not None:
            self.proc.stdin.write(command + "\n")
            self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        assert line, f"agent {self.proc.pid} died"
        return line.strip()

    def acquire(self) -> None:
        assert self.ask("acquire") == "acquired True"

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[Callable[..., Agent]]:
    """Factory of agent processes, all killed at teardown."""
    started: list[Agent] = []

    def start(path: Path, attempt: int = 7) -> Agent:
        started.append(Agent(path, attempt))
        return started[-1]

    yield start
    for each in started:
        if each.proc.poll() is None:
            each.kill9()
        for stream in (each.proc.stdin, each.proc.stdout):
            if stream is not None:
                stream.close()


@pytest.fixture
def lock_path(tmp_path: Path) -> Path:
    return tmp_path / "runs" / ".locks" / "demo.lock"


def _raw_record(path: Path) -> dict[str, Any]:
    record = json.loads(path.read_bytes())
    assert isinstance(record, dict)
    return record


def test_two_instances_in_one_process_exclude_each_other(lock_path: Path) -> None:
    first, second = OwnedLock(lock_path, what="x"), OwnedLock(lock_path, what="x")
    assert first.acquire()
    assert first.is_held_by_me
    assert not second.is_held_by_me
    assert not second.acquire()
    assert not first.acquire()  # not reentrant either
    assert second.is_locked()
    holder = second.holder()
    assert holder is not None
    assert holder.pid == os.getpid()
    with pytest.raises(AlreadyHeldError, match=str(os.getpid())):
        second.acquire_or_raise()
    first.release()
    assert second.acquire()
    assert not first.acquire()
    second.release()
    assert not first.is_locked()


@pytest.mark.parametrize("shared_instance", [False, True])
def test_two_threads_exclude_each_other(lock_path: Path, shared_instance: bool) -> None:
    shared = OwnedLock(lock_path, what="x")
    for _ in range(10):
        barrier = threading.Barrier(2, timeout=30)
        outcomes: list[tuple[bool, OwnedLock]] = []

        def attempt(barrier: threading.Barrier, outcomes: list[tuple[bool, OwnedLock]]) -> None:
            lock = shared if shared_instance else OwnedLock(lock_path, what="x")
            barrier.wait()
            won = lock.acquire()
            barrier.wait()  # both attempted while the winner still holds
            outcomes.append((won, lock))

        threads = [threading.Thread(target=attempt, args=(barrier, outcomes)) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(won for won, _ in outcomes) == [False, True]
        winner = next(lock for won, lock in outcomes if won)
        winner.release()
        assert not winner.is_locked()


def _race(path: str, index: int, *, rounds: int, barrier: Any, results: Any, force_unlocker: bool) -> None:
    lock = OwnedLock(Path(path), what="race")
    for round_ in range(rounds):
        barrier.wait()
        if force_unlocker and index == 0:
            with contextlib.suppress(AlreadyHeldError):
                lock.force_unlock()
            won = False
        else:
            won = lock.acquire()
        barrier.wait()  # everyone attempted while the winner still holds
        if won:
            lock.release()
        results.put((round_, won))


@pytest.mark.slow
@pytest.mark.parametrize("force_unlocker", [False, True], ids=["acquirers", "with-force-unlocker"])
def test_eight_processes_race_and_exactly_one_wins(lock_path: Path, force_unlocker: bool) -> None:
    processes, rounds = 8, 20
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(processes, timeout=60)
    results = context.Queue()
    workers = [
        context.Process(
            target=_race,
            args=(str(lock_path), i),
            kwargs={
                "rounds": rounds,
                "barrier": barrier,
                "results": results,
                "force_unlocker": force_unlocker,
            },
        )
        for i in range(processes)
    ]
    for worker in workers:
        worker.start()
    outcomes = [results.get(timeout=60) for _ in range(processes * rounds)]
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    for round_ in range(rounds):
        assert sum(won for r, won in outcomes if r == round_) == 1, f"round {round_}"


def test_failed_acquire_leaves_the_holders_record_byte_identical(lock_path: Path, agent: Any) -> None:
    holder = agent(lock_path)
    holder.acquire()
    before, stat_before = lock_path.read_bytes(), lock_path.stat()
    mine = OwnedLock(lock_path, what="the test lock")
    assert not mine.acquire()
    with pytest.raises(AlreadyHeldError):
        mine.acquire_or_raise()
    with pytest.raises(AlreadyHeldError), mine:
        pytest.fail("entered a held lock")
    assert mine.is_locked()
    assert mine.holder() is not None
    stat_after = lock_path.stat()
    assert lock_path.read_bytes() == before
    assert (stat_after.st_ino, stat_after.st_mtime_ns) == (stat_before.st_ino, stat_before.st_mtime_ns)


def test_holder_and_error_name_the_live_holder(lock_path: Path, agent: Any) -> None:
    other = agent(lock_path, attempt=3)
    other.acquire()
    mine = OwnedLock(lock_path, what="run 'demo'")
    holder = mine.holder()
    assert holder is not None
    assert (holder.host, holder.pid, holder.attempt) == (socket.gethostname(), other.pid, 3)
    assert datetime.fromisoformat(holder.started_at).utcoffset() is not None  # ISO-8601 with a UTC offset
    with pytest.raises(AlreadyHeldError) as caught:
        mine.acquire_or_raise()
    message = str(caught.value)
    assert caught.value.exit_code == EXIT_HELD
    assert caught.value.holder == holder
    for part in ("run 'demo'", holder.host, str(other.pid), holder.started_at):
        assert part in message


def test_kill_9_frees_the_lock_with_no_manual_step(
    lock_path: Path, agent: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="parallel_runs.locks")
    dead = agent(lock_path)
    dead.acquire()
    assert dead.ask("update child_pgid=4242") == "updated"
    dead.kill9()
    stale = lock_path.read_bytes()
    assert _raw_record(lock_path)["pid"] == dead.pid  # the record still names the dead holder...
    mine = OwnedLock(lock_path, what="the test lock", attempt=8)
    assert not mine.is_locked()  # ...but it does not make the lock look held
    assert mine.holder() is None
    record = mine.record()
    assert record is not None
    assert record["pid"] == dead.pid
    assert record["child_pgid"] == 4242
    assert lock_path.read_bytes() == stale  # probing changed nothing
    assert mine.acquire()
    assert mine.previous_record is not None
    assert mine.previous_record["child_pgid"] == 4242
    mine_now = mine.holder()
    assert mine_now is not None
    assert mine.record() == {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "started_at": mine_now.started_at,
        "attempt": 8,
    }
    assert "died holding it" in caplog.text
    assert str(dead.pid) in caplog.text
    mine.release()


@pytest.mark.parametrize("how", ["popen", "fork"])
def test_a_child_started_while_holding_does_not_keep_the_lock(lock_path: Path, agent: Any, how: str) -> None:
    parent = agent(lock_path)
    parent.acquire()
    child_pid = int(parent.ask(how).split()[1])
    try:
        parent.kill9()
        os.kill(child_pid, 0)  # the child outlives its parent...
        mine = OwnedLock(lock_path, what="the test lock")
        # ...without holding the lock. A forked child drops it in its at-fork hook, which may run a
        # moment after the parent reported the child's pid, hence the short wait.
        wait_for(lambda: not mine.is_locked(), timeout=5, what="the lock to be free")
        assert mine.acquire()
        mine.release()
    finally:
        os.kill(child_pid, signal.SIGKILL)


def test_force_unlock_refuses_a_live_holder_and_changes_nothing(lock_path: Path, agent: Any) -> None:
    other = agent(lock_path)
    other.acquire()
    before, inode = lock_path.read_bytes(), lock_path.stat().st_ino
    mine = OwnedLock(lock_path, what="the test lock")
    with pytest.raises(AlreadyHeldError) as caught:
        mine.force_unlock()
    assert caught.value.holder is not None
    assert caught.value.holder.pid == other.pid
    assert (lock_path.read_bytes(), lock_path.stat().st_ino) == (before, inode)
    assert mine.is_locked()
    assert not mine.acquire()  # still the other's: nobody got in
    assert other.ask("release") == "released"  # the holder releases normally
    assert mine.record() is None  # a clean release clears the record
    assert mine.acquire()
    with pytest.raises(AlreadyHeldError):
        mine.force_unlock()  # this process is a live holder too
    mine.release()


def test_force_unlock_removes_a_stale_lock(lock_path: Path, agent: Any) -> None:
    dead = agent(lock_path)
    dead.acquire()
    dead.kill9()
    mine = OwnedLock(lock_path, what="the test lock")
    mine.force_unlock()
    assert not lock_path.exists()
    assert mine.record() is None
    mine.force_unlock()  # nothing left to remove
    assert mine.acquire()
    mine.release()


def test_update_record_is_visible_to_other_processes(lock_path: Path, agent: Any) -> None:
    other = agent(lock_path)
    other.acquire()
    assert other.ask('update note="' + "x" * 5000 + '"') == "updated"
    assert other.ask("update child_pgid=4242") == "updated"
    assert other.ask('update note=""') == "updated"  # shorter than before: trimmed, still one JSON object
    mine = OwnedLock(lock_path, what="the test lock")
    record = mine.record()
    assert record is not None
    assert (record["pid"], record["attempt"]) == (other.pid, 7)
    assert (record["child_pgid"], record["note"]) == (4242, "")
    assert lock_path.stat().st_size == len(json.dumps(record)) + 1
    holder = mine.holder()
    assert holder is not None
    assert holder.pid == other.pid


def test_update_record_needs_the_hold_and_keeps_identity_fields(lock_path: Path) -> None:
    lock = OwnedLock(lock_path, what="x")
    with pytest.raises(RuntimeError, match="held by this instance"):
        lock.update_record(child_pgid=1)
    with lock:
        with pytest.raises(ValueError, match="pid"):
            lock.update_record(pid=1)
        lock.update_record(child_pgid=99)
        assert OwnedLock(lock_path, what="x").record() == {**(lock.record() or {}), "child_pgid": 99}
    assert not lock.is_locked()
    lock.release()  # idempotent


def test_probes_never_make_an_acquire_fail(lock_path: Path) -> None:
    stop = threading.Event()
    prober = OwnedLock(lock_path, what="x")

    def probe() -> None:
        while not stop.is_set():
            prober.is_locked()
            prober.holder()

    thread = threading.Thread(target=probe)
    thread.start()
    try:
        lock = OwnedLock(lock_path, what="x")
        for _ in range(50):
            assert lock.acquire()
            lock.release()
    finally:
        stop.set()
        thread.join()


def test_relative_paths_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="absolute"):
        OwnedLock(Path("demo.lock"), what="x")
    with pytest.raises(ValueError, match="absolute"):
        WorktreeLease(Path("workspaces/a"), runs_dir=tmp_path)
    with pytest.raises(ValueError, match="absolute"):
        WorktreeLease(tmp_path / "workspaces" / "a", runs_dir=Path(".autonomous_runs"))
    with pytest.raises(ValueError, match="absolute"):
        RunLock("a", runs_dir=Path(".autonomous_runs"))


def test_workspace_lease_is_keyed_by_the_absolute_workspace_path(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    ws_a, ws_b = runs / "workspaces" / "a", runs / "workspaces" / "b"
    lease_a = WorktreeLease(ws_a, runs_dir=runs, attempt=1)
    again_a = WorktreeLease(runs / "workspaces" / "x" / ".." / "a", runs_dir=runs)
    lease_b = WorktreeLease(ws_b, runs_dir=runs)
    assert lease_a.path == again_a.path == lease_path_for(runs, ws_a) == RunPaths(runs, "a").lease
    assert lease_a.path.parent == runs / ".workspace_leases"
    assert lease_a.path != lease_b.path
    assert lease_a.acquire()
    assert lease_b.acquire()
    with pytest.raises(AlreadyHeldError, match=f"workspace {ws_a} is already held"):
        again_a.acquire_or_raise()
    assert (again_a.record() or {})["workspace"] == str(ws_a)
    lease_a.release()
    lease_b.release()


def test_executor_lock_lives_under_the_runs_dir(tmp_path: Path) -> None:
    runs = tmp_path / "not-yet-created"
    lock = RunLock("a-b-1234abcd", runs_dir=runs, run_id="a/b", attempt=2)
    assert lock.path == runs / ".locks" / "a-b-1234abcd.lock"
    with lock:  # parent directories are created on acquire
        record = RunLock("a-b-1234abcd", runs_dir=runs).record()
        assert record is not None
        assert (record["run_id"], record["slug"], record["attempt"]) == ("a/b", "a-b-1234abcd", 2)
        with pytest.raises(AlreadyHeldError, match="run 'a/b' is already held"):
            RunLock("a-b-1234abcd", runs_dir=runs, run_id="a/b").acquire_or_raise()
    assert lock.path.exists()
    assert lock.record() is None
    for bad in ("", ".", "..", "a/b"):
        with pytest.raises(ValueError, match="slug"):
            RunLock(bad, runs_dir=runs)
