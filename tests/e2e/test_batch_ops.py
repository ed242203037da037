"""Acceptance of operating a batch (issue #3): cancel, retries, resume, budget, policy, events."""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

from tests.helpers import cli, finish, git, processes_with, start_cli, wait_for


def attempts(runs_dir: Path, slug: str) -> list[tuple[int, str]]:
    with sqlite3.connect(runs_dir / slug / f"{slug}.db") as db:
        return db.execute("select attempt, status from attempts order by attempt").fetchall()


def events(stdout: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def managed_worktrees(repo: Path) -> list[str]:
    listing = git(repo, "worktree", "list", "--porcelain").splitlines()
    return [line for line in listing if line.startswith("worktree ") and "workspaces" in line]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_stop_signal_cancels_running_runs_and_records_the_rest(repo: Path, tmp_path: Path, sig: int) -> None:
    marker = f"301.45{sig:02d}"  # one per case: xdist may run both at once, on two workers
    started = tmp_path / "started"
    started.mkdir()
    command = f'echo "partial $PARALLEL_RUNS_RUN_ID" > partial.txt; touch {started}/$PARALLEL_RUNS_RUN_ID; '
    command += f"sleep {marker}"
    batch = start_cli(
        "run", "--run-ids", "s1,s2,s3,s4", "--workers", "2", "--grace", "3s", "--command", command, cwd=repo
    )
    wait_for(lambda: len(list(started.iterdir())) == 2, what="two runs to start")
    sent = time.monotonic()
    batch.send_signal(sig)
    out, err = finish(batch, timeout=30)
    assert batch.returncode == 130, out + err
    assert time.monotonic() - sent < 60  # the 301 s command was stopped, not waited for
    assert processes_with(f"sleep {marker}") == []
    runs_dir = repo / ".autonomous_runs"
    ran = sorted(p.name for p in started.iterdir())
    assert len(ran) == 2, ran  # two workers: the signal came before a third run could start
    outcomes = sorted(attempts(runs_dir, run_id)[0][1] for run_id in ("s1", "s2", "s3", "s4"))
    assert outcomes == ["cancelled", "cancelled", "not_started", "not_started"]
    for run_id in ("s1", "s2", "s3", "s4"):
        if run_id in ran:
            assert attempts(runs_dir, run_id) == [(1, "cancelled")]
            assert git(repo, "show", f"parallel-runs/{run_id}:partial.txt") == f"partial {run_id}"
        else:
            assert attempts(runs_dir, run_id) == [(1, "not_started")]
    assert managed_worktrees(repo) == []
    assert not any((runs_dir / "workspaces").iterdir())


def test_second_interrupt_skips_the_grace_period_but_still_saves(repo: Path, tmp_path: Path) -> None:
    started = tmp_path / "started"
    command = f"trap '' TERM; echo kept > kept.txt; touch {started}; sleep 302.5678"
    batch = start_cli("run", "--run-ids", "stubborn", "--grace", "300s", "--command", command, cwd=repo)
    wait_for(started.exists, what="the run to start")
    batch.send_signal(signal.SIGINT)
    time.sleep(0.5)
    assert batch.poll() is None  # the run ignores SIGTERM: the first Ctrl-C waits for the grace period
    sent = time.monotonic()
    batch.send_signal(signal.SIGINT)
    out, err = finish(batch, timeout=30)
    assert batch.returncode == 130, out + err
    assert time.monotonic() - sent < 60  # the second Ctrl-C skipped the 300 s grace
    assert git(repo, "show", "parallel-runs/stubborn:kept.txt") == "kept"
    assert attempts(repo / ".autonomous_runs", "stubborn") == [(1, "cancelled")]


def test_retries_make_a_new_attempt_and_keep_the_first_tip(repo: Path, tmp_path: Path) -> None:
    flag = tmp_path / "second-time"
    command = (
        f"if [ -e {flag} ]; then echo ok > result.txt; else touch {flag}; echo first > first.txt; exit 1; fi"
    )
    done = cli(
        "run", "--run-ids", "flaky", "--retries", "1", "--retry-delay", "0.1s", "--command", command, cwd=repo
    )
    assert done.returncode == 0, done.stdout + done.stderr
    runs_dir = repo / ".autonomous_runs"
    assert attempts(runs_dir, "flaky") == [(1, "failed"), (2, "succeeded")]
    assert git(repo, "show", "refs/parallel-runs/attempts/flaky/1:first.txt") == "first"
    assert git(repo, "show", "parallel-runs/flaky:result.txt") == "ok"
    assert "first.txt" not in git(repo, "ls-tree", "-r", "--name-only", "parallel-runs/flaky")


def test_retries_stop_after_the_last_allowed_attempt(repo: Path) -> None:
    done = cli("run", "--run-ids", "hopeless", "--retries", "2", "--command", "exit 5", cwd=repo)
    assert done.returncode == 1
    assert attempts(repo / ".autonomous_runs", "hopeless") == [(1, "failed"), (2, "failed"), (3, "failed")]


def test_second_batch_skips_succeeded_runs_and_redo_runs_them_again(repo: Path) -> None:
    ids = "r{1..4}"
    first = cli("run", "--run-ids", ids, "--workers", "2", "--command", "date +%N > stamp.txt", cwd=repo)
    assert first.returncode == 0, first.stdout + first.stderr
    again = cli("run", "--run-ids", ids, "--workers", "2", "--json-events", "--command", "exit 9", cwd=repo)
    assert again.returncode == 0, again.stdout + again.stderr
    stream = events(again.stdout)
    kinds = [e["event"] for e in stream]
    assert kinds.count("run_skipped") == 4
    assert "attempt_started" not in kinds
    # The batch's own time, from its first event to its last (the CLI's start-up is not the skip's cost).
    took = datetime.fromisoformat(str(stream[-1]["at"])) - datetime.fromisoformat(str(stream[0]["at"]))
    assert took.total_seconds() < 4 * 0.25, f"skipping 4 runs took {took.total_seconds():.2f}s"
    runs_dir = repo / ".autonomous_runs"
    redo = cli("run", "--run-ids", ids, "--redo", "--command", "true", cwd=repo)
    assert redo.returncode == 0, redo.stdout + redo.stderr
    for n in range(1, 5):
        assert attempts(runs_dir, f"r{n}") == [(1, "succeeded"), (2, "succeeded")]


def test_only_failed_reruns_just_the_runs_that_did_not_succeed(repo: Path) -> None:
    command = '[ "$PARALLEL_RUNS_RUN_ID" != bad ] || [ "$PARALLEL_RUNS_ATTEMPT" -gt 1 ]'
    first = cli("run", "--run-ids", "good,bad", "--command", command, cwd=repo)
    assert first.returncode == 1
    again = cli(
        "run", "--run-ids", "good,bad,never", "--only-failed", "--json-events", "--command", command, cwd=repo
    )
    assert again.returncode == 0, again.stdout + again.stderr
    skipped = {e["run_id"] for e in events(again.stdout) if e["event"] == "run_skipped"}
    assert skipped == {"good", "never"}
    runs_dir = repo / ".autonomous_runs"
    assert attempts(runs_dir, "bad") == [(1, "failed"), (2, "succeeded")]
    assert not (runs_dir / "never" / "result.json").exists()
    assert "parallel-runs/never" not in git(repo, "branch", "--list", "parallel-runs/*")


def test_one_shared_sqlite_file_with_several_workers_is_refused(repo: Path) -> None:
    done = cli(
        "run",
        "--run-ids",
        "a,b",
        "--database-url",
        "sqlite:///one.db",
        "--workers",
        "2",
        "--command",
        "true",
        cwd=repo,
    )
    assert done.returncode == 2
    assert "--per-run-sqlite" in done.stderr
    assert "PostgreSQL" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_one_shared_sqlite_file_with_one_worker_records_every_run(repo: Path) -> None:
    done = cli(
        "run",
        "--run-ids",
        "a,b",
        "--database-url",
        "sqlite:///one.db",
        "--workers",
        "1",
        "--command",
        "true",
        cwd=repo,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    with sqlite3.connect(repo / "one.db") as db:
        rows = db.execute("select run_id, status from attempts order by run_id").fetchall()
    assert rows == [("a", "succeeded"), ("b", "succeeded")]


def test_workers_policy(repo: Path) -> None:
    zero = cli("run", "--run-ids", "a", "--workers", "0", "--command", "true", cwd=repo)
    assert zero.returncode == 2
    many = cli(
        "run",
        "--run-ids",
        "a",
        "--workers",
        str(4 * (os.cpu_count() or 1) + 1),
        "--command",
        "true",
        cwd=repo,
    )
    assert many.returncode == 0
    assert "warning" in many.stderr
    assert "per CPU core" in many.stderr


def test_json_events_are_one_object_per_line(repo: Path) -> None:
    done = cli("run", "--run-ids", "j1,j2", "--json-events", "--command", "echo hi", cwd=repo)
    assert done.returncode == 0
    stream = events(done.stdout)
    assert stream[0]["event"] == "batch_started"
    assert stream[-1]["event"] == "batch_finished"
    assert stream[-1]["exit_code"] == 0
    finished = [e for e in stream if e["event"] == "attempt_finished"]
    assert {e["run_id"] for e in finished} == {"j1", "j2"}
    assert all(e["status"] == "succeeded" for e in finished)


def test_quiet_prints_only_the_summary(repo: Path) -> None:
    done = cli("run", "--run-ids", "q1,q2", "--quiet", "--command", "true", cwd=repo)
    assert done.returncode == 0
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1
    assert "2 succeeded" in lines[0]


def test_live_progress_on_a_terminal(repo: Path, tmp_path: Path) -> None:
    # A real pseudo-terminal: rich sees a TTY and draws the live view.
    gate = tmp_path / "gate"
    command = f'echo "working on $PARALLEL_RUNS_RUN_ID"; while [ ! -e {gate} ]; do sleep 0.05; done'
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "parallel_runs",
            "run",
            "--run-ids",
            "tty1,tty2",
            "--workers",
            "2",
            "--command",
            command,
        ],
        cwd=repo,
        stdin=follower,
        stdout=follower,
        stderr=follower,
        env={**os.environ, "COLUMNS": "150", "TERM": "xterm"},
    )
    os.close(follower)
    seen = b""
    deadline = time.monotonic() + 30
    try:
        # Open the gate only once both runs are drawn as running: a worker may start a little later.
        while not all(marker in seen for marker in (b"working on tty1", b"working on tty2", b"running 2")):
            assert time.monotonic() < deadline, seen.decode(errors="replace")
            if select.select([leader], [], [], 0.2)[0]:
                seen += os.read(leader, 65536)
        gate.touch()
        while proc.poll() is None:
            if select.select([leader], [], [], 0.2)[0]:
                try:
                    seen += os.read(leader, 65536)
                except OSError:
                    break
        assert proc.wait(timeout=30) == 0
    finally:
        gate.touch()
        os.close(leader)
    text = seen.decode(errors="replace")
    assert "ETA" in text
    assert "succeeded" in text
