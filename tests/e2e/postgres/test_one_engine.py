"""One engine under both stores: the same batch gives the same outcomes with and without --database-url.

Before the engine was one, the shared store's loop ignored --max-batch-time (a 3 s budget ran for
16 s) and --retry-delay (retries started at once).
"""

from __future__ import annotations

import json
import secrets
from datetime import datetime
from pathlib import Path

import pytest

from tests.helpers import cli, processes_with

MODES = pytest.mark.parametrize("shared", [False, True], ids=["per-run-sqlite", "postgres"])


def store_flags(shared: bool, database_url: str) -> tuple[str, ...]:
    return ("--database-url", database_url) if shared else ()


def events(stdout: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


def outcomes(repo: Path, shared: bool, database_url: str, batch: str) -> dict[str, tuple[str, int]]:
    done = cli("report", "--format", "json", "--batch", batch, *store_flags(shared, database_url), cwd=repo)
    assert done.returncode == 0, done.stderr
    runs = json.loads(done.stdout)["runs"]
    return {row["run_id"]: (row["status"], row["attempts"]) for row in runs}


def runs_json(repo: Path, shared: bool, database_url: str, batch: str) -> dict[str, dict[str, object]]:
    done = cli("report", "--format", "json", "--batch", batch, *store_flags(shared, database_url), cwd=repo)
    assert done.returncode == 0, done.stderr
    return {row["run_id"]: row for row in json.loads(done.stdout)["runs"]}


@MODES
def test_the_batch_budget_stops_the_batch_in_both_stores(repo: Path, database_url: str, shared: bool) -> None:
    # Judged by the store's own timestamps, not by timing the process: interpreter start-up on a
    # busy machine took seconds. A 30 s command ended by a 3 s budget leaves a tenfold margin.
    batch = f"budget-{secrets.token_hex(3)}"
    # Its own command line per mode: under xdist both modes may run at once, on two workers.
    sleeper = f"sleep 30.765{int(shared)}"
    done = cli(
        "run",
        *store_flags(shared, database_url),
        "--batch-id",
        batch,
        "--run-ids",
        "m1,m2,m3",
        "--workers",
        "1",
        "--max-batch-time",
        "3s",
        "--grace",
        "1s",
        "--command",
        sleeper,
        cwd=repo,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    runs = runs_json(repo, shared, database_url, batch)
    assert {run_id: (row["status"], row["attempts"]) for run_id, row in runs.items()} == {
        "m1": ("cancelled", 1),
        "m2": ("not_started", 1),
        "m3": ("not_started", 1),
    }
    assert float(runs["m1"]["duration_seconds"]) < 15, "the 3s budget did not stop the 30s command"
    assert processes_with(sleeper) == []


@MODES
def test_retry_delay_and_resume_rules_hold_in_both_stores(
    repo: Path, database_url: str, shared: bool
) -> None:
    first, second = (f"resume-{secrets.token_hex(3)}" for _ in range(2))
    run_ids = f"ok-{secrets.token_hex(2)},retry-{secrets.token_hex(2)}"
    ok, retried = run_ids.split(",")
    command = f'test "$PARALLEL_RUNS_RUN_ID" = {ok} || test "$PARALLEL_RUNS_ATTEMPT" -ge 2'
    common = ("run", *store_flags(shared, database_url), "--json-events", "--run-ids", run_ids)
    done = cli(
        *common,
        "--batch-id",
        first,
        "--retries",
        "2",
        "--retry-delay",
        "1.5s",
        "--command",
        command,
        cwd=repo,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    finished = [e for e in events(done.stdout) if e["event"] == "attempt_finished" and e["run_id"] == retried]
    assert [(e["attempt"], e["status"]) for e in finished] == [(1, "failed"), (2, "succeeded")]
    gap = datetime.fromisoformat(str(finished[1]["started_at"])) - datetime.fromisoformat(
        str(finished[0]["finished_at"])
    )
    assert gap.total_seconds() >= 1.5
    assert outcomes(repo, shared, database_url, first) == {ok: ("succeeded", 1), retried: ("succeeded", 2)}

    again = cli(*common, "--batch-id", second, "--command", "false", cwd=repo)
    assert again.returncode == 0, again.stdout + again.stderr
    skipped = {e["run_id"] for e in events(again.stdout) if e["event"] == "run_skipped"}
    assert skipped == {ok, retried}
