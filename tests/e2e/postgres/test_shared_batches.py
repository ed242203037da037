"""Shared batches told whole (issue #12): what a user of the shared store hears and can do."""

from __future__ import annotations

import json
import secrets
import signal
import time
from pathlib import Path

from tests.helpers import cli, finish, git, processes_with, start_cli, wait_for


def shared_run(url: str, batch: str, *args: str) -> tuple[str, ...]:
    """The command line of `run` queuing `batch` in the shared store at `url`."""
    return ("run", "--database-url", url, "--batch-id", batch, *args)


def test_enqueuing_a_base_commit_origin_lacks_is_named(repo: Path, tmp_path: Path, database_url: str) -> None:
    origin = tmp_path / "origin.git"
    git(tmp_path, "clone", "--quiet", "--bare", str(repo), str(origin))
    git(repo, "remote", "add", "origin", str(origin))
    git(repo, "fetch", "--quiet", "origin")
    pushed = cli(
        *shared_run(database_url, f"b-{secrets.token_hex(3)}", "--run-ids", "p1", "--command", "true"),
        cwd=repo,
    )
    assert pushed.returncode == 0, pushed.stdout + pushed.stderr
    assert "not on origin" not in pushed.stderr
    git(repo, "commit", "--quiet", "--allow-empty", "-m", "local only")
    local = cli(
        *shared_run(database_url, f"b-{secrets.token_hex(3)}", "--run-ids", "p2", "--command", "true"),
        cwd=repo,
    )
    assert local.returncode == 0, local.stdout + local.stderr
    sha = git(repo, "rev-parse", "HEAD")[:12]
    assert f"the base commit {sha} is not on origin: workers in other clones cannot fetch it" in local.stderr


def report_outcomes(repo: Path, url: str, batch: str) -> dict[str, str]:
    done = cli("report", "--format", "json", "--database-url", url, "--batch", batch, cwd=repo)
    assert done.returncode == 0, done.stderr
    return {row["run_id"]: row["status"] for row in json.loads(done.stdout)["runs"]}


def test_cancel_stops_a_shared_batch_everywhere(repo: Path, tmp_path: Path, database_url: str) -> None:
    batch, started = f"c-{secrets.token_hex(3)}", tmp_path / "started"
    runner = start_cli(
        *shared_run(
            database_url,
            batch,
            "--run-ids",
            "c1,c2,c3",
            "--workers",
            "1",
            "--lease-ttl",
            "6s",
            "--command",
            f"touch {started}; sleep 40.123",
        ),
        cwd=repo,
    )
    wait_for(started.exists, what="the first run to start")
    cancelled = cli("cancel", "--batch", batch, "--database-url", database_url, cwd=repo)
    at = time.monotonic()
    assert cancelled.returncode == 0, cancelled.stdout + cancelled.stderr
    assert "2 queued run(s) recorded not_started" in cancelled.stdout
    out, err = finish(runner, timeout=60)
    assert runner.returncode == 1, out + err
    assert time.monotonic() - at < 30  # one heartbeat (2 s), then the SIGTERM: not the 40 s command's end
    assert processes_with("sleep 40.123") == []
    assert report_outcomes(repo, database_url, batch) == {
        "c1": "cancelled",
        "c2": "not_started",
        "c3": "not_started",
    }
    unknown = cli("cancel", "--batch", "no-such", "--database-url", database_url, cwd=repo)
    assert (unknown.returncode, "no such batch" in unknown.stderr) == (2, True)


def test_the_end_of_a_shared_batch_counts_the_whole_batch(
    repo: Path, tmp_path: Path, database_url: str
) -> None:
    other = tmp_path / "other-clone"
    git(tmp_path, "clone", "--quiet", str(repo), str(other))
    batch, started, release = f"w-{secrets.token_hex(3)}", tmp_path / "started", tmp_path / "release"
    wait = f"touch {started}; while [ ! -e {release} ]; do sleep 0.05; done"
    slow_first = f'if [ "$PARALLEL_RUNS_RUN_ID" = w1 ]; then {wait}; fi'
    runner = start_cli(
        *shared_run(database_url, batch, "--run-ids", "w{1..6}", "--workers", "1", "--command", slow_first),
        cwd=repo,
    )
    wait_for(started.exists, what="w1 to start here")
    helper = start_cli(
        "worker", "--batch", batch, "--database-url", database_url, "--workers", "2", cwd=other
    )
    try:
        wait_for(lambda: len(report_outcomes(repo, database_url, batch)) == 6, what="the other runs")
        release.touch()
        out, err = finish(runner)
        helped, helper_err = finish(helper)
    finally:
        runner.kill()
        if helper.poll() is None:  # the runner got stuck: the helper's output and stacks tell the rest
            helper.send_signal(signal.SIGABRT)
            print("the helper said:", *helper.communicate(), sep="\n")
    assert runner.returncode == 0, out + err
    assert "6 runs: 1 succeeded here, 5 on other workers" in out
    assert "6 runs: 5 succeeded here, 1 on other workers" in helped, helped + helper_err


def test_ctrl_c_on_one_machine_says_it_stops_only_that_machine(
    repo: Path, tmp_path: Path, database_url: str
) -> None:
    batch, started = f"i-{secrets.token_hex(3)}", tmp_path / "started"
    runner = start_cli(
        *shared_run(
            database_url,
            batch,
            "--run-ids",
            "i1,i2",
            "--workers",
            "1",
            "--command",
            f"touch {started}; sleep 41.234",
        ),
        cwd=repo,
    )
    wait_for(started.exists, what="the first run to start")
    runner.send_signal(signal.SIGINT)
    out, err = finish(runner, timeout=60)
    assert runner.returncode == 130, out + err
    assert f"stopping this machine only: other workers of batch {batch} go on" in out
    assert report_outcomes(repo, database_url, batch) == {"i1": "cancelled"}  # i2 is left for them


def test_a_worker_can_wait_for_a_batch_not_enqueued_yet(
    repo: Path, tmp_path: Path, database_url: str
) -> None:
    batch = f"later-{secrets.token_hex(3)}"
    waiting = start_cli("worker", "--batch", batch, "--database-url", database_url, "--wait", "60s", cwd=repo)
    time.sleep(1.5)  # the worker is up before the batch exists
    assert waiting.poll() is None
    queued = cli(*shared_run(database_url, batch, "--run-ids", "l{1..4}", "--command", "true"), cwd=repo)
    assert queued.returncode == 0, queued.stdout + queued.stderr
    out, err = finish(waiting, timeout=60)
    assert waiting.returncode == 0, out + err
    gone = cli("worker", "--batch", "never-queued", "--database-url", database_url, "--wait", "1s", cwd=repo)
    assert gone.returncode == 2
    assert "'never-queued' is not in the shared store within 1.0s" in gone.stderr


def test_the_stored_run_log_of_an_attempt_holds_that_attempt_only(repo: Path, database_url: str) -> None:
    batch = f"logs-{secrets.token_hex(3)}"
    command = 'echo "output of attempt $PARALLEL_RUNS_ATTEMPT"; test "$PARALLEL_RUNS_ATTEMPT" -ge 2'
    done = cli(
        *shared_run(database_url, batch, "--run-ids", "twice", "--retries", "1", "--command", command),
        cwd=repo,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    logs = {}
    for attempt in (1, 2):
        got = cli(
            "artifacts",
            "get",
            "twice",
            "run.log",
            "--attempt",
            str(attempt),
            "--database-url",
            database_url,
            cwd=repo,
        )
        assert got.returncode == 0, got.stderr
        logs[attempt] = got.stdout
    assert "output of attempt 1" in logs[1]
    assert "output of attempt 2" not in logs[1]
    assert "output of attempt 2" in logs[2]
    assert "output of attempt 1" not in logs[2]


def test_a_batch_refused_at_its_baseline_is_listed_where_it_was_refused(
    repo: Path, database_url: str
) -> None:
    """A refused batch never reaches the shared store (the baseline is checked before it is queued, and
    a worker's refusal is its own machine's verdict): the runs dir of the machine that refused it says
    why, and the shared store does not know it."""
    batch = f"nope-{secrets.token_hex(3)}"
    refused = cli(
        *shared_run(database_url, batch, "--run-ids", "a,b", "--command", "true"),
        "--test-command",
        "echo broken here; exit 1",
        cwd=repo,
    )
    assert refused.returncode == 2, refused.stdout + refused.stderr

    shared = cli("batches", "--database-url", database_url, "--format", "json", cwd=repo)
    assert shared.returncode == 0, shared.stderr
    assert batch not in {b["batch_id"] for b in json.loads(shared.stdout)["batches"]}
    report = cli("report", "--database-url", database_url, "--batch", batch, cwd=repo)
    assert report.returncode == 2
    assert f"no such batch {batch!r} in the shared store" in report.stderr

    here = cli("batches", "--format", "json", cwd=repo)
    [listed] = [b for b in json.loads(here.stdout)["batches"] if b["batch_id"] == batch]
    assert (listed["state"], listed["counts"]) == ("refused", {"not_started": 2})
