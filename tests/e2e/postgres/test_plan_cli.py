"""`plan --database-url` queues the batch as `run` would, and its legs are workers."""

from __future__ import annotations

import secrets
from pathlib import Path

from parallel_runs.store import SharedStore
from tests.action_harness import parse_output_file
from tests.helpers import cli, git


def test_plan_queues_the_batch_and_workers_finish_it(repo: Path, database_url: str) -> None:
    batch = f"plan-{secrets.token_hex(4)}"
    ids = f"{batch}-{{1..5}}"
    common = ("--database-url", database_url, "--batch-id", batch, "--run-ids", ids)
    planned = cli("plan", *common, "--max-jobs", "2", "--retries", "1", "--command", "true", cwd=repo)
    assert planned.returncode == 0, planned.stderr
    printed = parse_output_file(planned.stdout)
    assert (printed["matrix"], printed["mode"], printed["run-count"]) == ('{"leg":[1,2]}', "worker", "5")
    with SharedStore.connect(database_url) as store:
        definition = store.get_batch(batch)
    assert definition is not None
    assert (definition.retries, definition.command.shell) == (1, "true")
    assert definition.base_sha == printed["base-sha"] == git(repo, "rev-parse", "HEAD")

    worked = cli("worker", "--batch", batch, "--database-url", database_url, "--quiet", cwd=repo)
    assert worked.returncode == 0, worked.stdout + worked.stderr

    # The same runs in a new batch: every one already succeeded, so one leg is enough (it finds
    # nothing to do; GitHub refuses an empty matrix).
    again = cli(
        *("plan", "--database-url", database_url, "--batch-id", f"{batch}-again", "--run-ids", ids),
        *("--command", "true"),
        cwd=repo,
    )
    assert again.returncode == 0, again.stderr
    assert parse_output_file(again.stdout)["matrix"] == '{"leg":[1]}'
