"""`cancel` tells when running runs stop and can wait for them; a worker of a cancelled batch says it
was cancelled (issue #16 item 14)."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from parallel_runs.cli import main
from tests.e2e.postgres.test_shared_batches import report_outcomes, shared_run
from tests.helpers import cli, finish, processes_with, start_cli, wait_for


def _queued_then_cancelled(
    repo: Path, database_url: str, capsys: pytest.CaptureFixture[str]
) -> tuple[str, str]:
    """A batch queued (no worker yet) and cancelled in-process: its id and what cancel said."""
    batch = f"late-{secrets.token_hex(3)}"
    queued = cli(
        *("plan", "--database-url", database_url, "--batch-id", batch, "--run-ids", "q{1..3}"),
        *("--command", "true"),
        cwd=repo,
    )
    assert queued.returncode == 0, queued.stdout + queued.stderr
    assert main(["cancel", "--batch", batch, "--database-url", database_url]) == 0
    return batch, capsys.readouterr().out


def test_cancel_says_when_running_runs_stop(
    repo: Path, database_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(repo)
    _, said = _queued_then_cancelled(repo, database_url, capsys)
    assert "3 queued run(s) recorded not_started" in said
    # Before: no word on how long running runs take to stop, and no way to wait for them.
    assert "running runs stop within TTL/3 of their worker's --lease-ttl (20s at the default 60s)" in said
    assert "(--wait waits for them)" in said


def test_a_worker_started_after_cancel_says_the_batch_was_cancelled(
    repo: Path, database_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(repo)
    batch, _ = _queued_then_cancelled(repo, database_url, capsys)
    # Before: exit 0 and "3 runs: none here, 3 on other workers", though no worker ran any of them.
    code = main(["worker", "--batch", batch, "--database-url", database_url])
    out, err = capsys.readouterr()
    assert code == 1, out + err
    assert (
        f"batch {batch} was cancelled (parallel-runs cancel): 3 runs: none here, the whole batch: 3 " in out
    )
    assert "on other workers" not in out


def test_cancel_wait_returns_once_no_run_of_the_batch_is_running(
    repo: Path, tmp_path: Path, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    batch, started = f"w-{secrets.token_hex(3)}", tmp_path / "started"
    runner = start_cli(
        *shared_run(database_url, batch, "--run-ids", "w1,w2", "--workers", "1", "--lease-ttl", "6s"),
        "--command",
        f"touch {started}; sleep 40.347",
        cwd=repo,
    )
    wait_for(started.exists, what="the first run to start")
    code = main(["cancel", "--batch", batch, "--database-url", database_url, "--wait"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert f"no run of batch {batch} is running any more" in out
    # Already recorded when cancel returns, not later: that is what --wait is for.
    assert report_outcomes(repo, database_url, batch) == {"w1": "cancelled", "w2": "not_started"}
    out, err = finish(runner, timeout=60)
    assert runner.returncode == 1, out + err
    assert processes_with("sleep 40.347") == []


def test_cancel_wait_gives_up_at_its_timeout_naming_the_runs_still_running(
    repo: Path, tmp_path: Path, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    batch, started = f"t-{secrets.token_hex(3)}", tmp_path / "started"
    runner = start_cli(  # the command ignores SIGTERM: it runs on for the whole --grace
        *shared_run(database_url, batch, "--run-ids", "stubborn", "--lease-ttl", "6s", "--grace", "20s"),
        "--command",
        f"trap '' TERM; touch {started}; sleep 40.348",
        cwd=repo,
    )
    wait_for(started.exists, what="the run to start")
    code = main(["cancel", "--batch", batch, "--database-url", database_url, "--wait", "--timeout", "1s"])
    out = capsys.readouterr().out
    assert code == 1, out
    assert f"after 1.0s, 1 run(s) of batch {batch} still running: stubborn" in out
    out, err = finish(runner, timeout=90)
    assert runner.returncode == 1, out + err


def test_cancel_timeout_without_wait_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    url = "postgresql://nobody@127.0.0.1:1/never-reached"
    assert main(["cancel", "--batch", "b", "--database-url", url, "--timeout", "5s"]) == 2
    assert "--timeout is how long cancel --wait waits: add --wait" in capsys.readouterr().err
