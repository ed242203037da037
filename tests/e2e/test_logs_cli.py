"""`parallel-runs logs` (issue #12 §1): one attempt's part of run.log, followed until that attempt ends."""

from __future__ import annotations

from pathlib import Path

import pytest

from parallel_runs.cli import main
from tests.helpers import cli, finish, start_cli, wait_for

# Attempt 1 fails, attempt 2 succeeds; each says which it is.
FLAKY = 'echo "output of attempt $PARALLEL_RUNS_ATTEMPT"; [ "$PARALLEL_RUNS_ATTEMPT" -ge 2 ]'


def headers(text: str) -> list[str]:
    return [line.split(" \u00b7 ")[0] for line in text.splitlines() if line.startswith("=== parallel-runs:")]


def test_logs_prints_one_attempt_at_a_time(
    repo: Path, capsysbinary: pytest.CaptureFixture[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    done = cli("run", "--run-ids", "r1", "--batch", "b1", "--command", FLAKY, cwd=repo)
    assert done.returncode == 1
    done = cli("run", "--run-ids", "r1", "--batch", "b2", "--command", FLAKY, cwd=repo)
    assert done.returncode == 0, done.stdout + done.stderr
    monkeypatch.chdir(repo)
    for args, attempt in ((["r1"], 2), (["r1", "--attempt", "1"], 1), (["r1", "--batch-id", "b1"], 1)):
        assert main(["logs", *args]) == 0
        text = capsysbinary.readouterr().out.decode()
        assert headers(text) == [f"=== parallel-runs: attempt {attempt}"]
        assert text.splitlines()[1:] == [f"output of attempt {attempt}"]


def test_an_unknown_run_or_attempt_is_exit_2(
    repo: Path, capsysbinary: pytest.CaptureFixture[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cli("run", "--run-ids", "r1", "--command", "echo hi", cwd=repo).returncode == 0
    monkeypatch.chdir(repo)
    for args, said in (
        (["ghost"], "no such run 'ghost' under"),
        (["r1", "--attempt", "4"], "run.log of run 'r1' has no attempt 4 (it has: 1)"),
        (["r1", "--batch", "nope"], "run 'r1' has no attempt in batch nope"),
    ):
        assert main(["logs", *args]) == 2
        out, err = capsysbinary.readouterr()
        assert out == b""
        assert said in err.decode()
    assert main(["logs", "ghost"]) == 2
    assert "--database-url" in capsysbinary.readouterr().err.decode()


def test_follow_prints_until_the_attempt_ends_and_not_the_next_one(repo: Path, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    command = (
        'echo "first line of attempt $PARALLEL_RUNS_ATTEMPT"; '
        f'while [ ! -e {gate} ]; do sleep 0.05; done; echo "last line of attempt $PARALLEL_RUNS_ATTEMPT"; '
        '[ "$PARALLEL_RUNS_ATTEMPT" -ge 2 ]'
    )
    runner = start_cli("run", "--run-ids", "f1", "--retries", "1", "--command", command, cwd=repo)
    log = repo / ".autonomous_runs" / "f1" / "run.log"
    wait_for(lambda: log.is_file() and "first line of attempt 1" in log.read_text(), what="attempt 1")
    follower = start_cli("logs", "f1", "--follow", cwd=repo)
    try:
        assert follower.stdout is not None
        seen = [follower.stdout.readline(), follower.stdout.readline()]  # the header, the first line
        gate.touch()  # attempt 1 ends (and fails), attempt 2 starts at once and ends
        rest, err = finish(follower, timeout=60)
    finally:
        gate.touch()
        finish(runner, timeout=60)
    assert follower.returncode == 0, err
    out = "".join(seen) + rest
    assert headers(out) == ["=== parallel-runs: attempt 1"]
    assert "first line of attempt 1" in out
    assert "last line of attempt 1" in out
    assert "attempt 2" not in out
    assert runner.returncode == 0
    again = cli("logs", "f1", "--follow", cwd=repo, timeout=30)  # attempt 2 is over: no waiting
    assert headers(again.stdout) == ["=== parallel-runs: attempt 2"]
    assert "last line of attempt 2" in again.stdout
