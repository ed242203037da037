"""A worktree left on this machine by an earlier attempt of a shared-store run is saved as that attempt."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

from tests.helpers import cli, git


def test_a_kept_worktree_is_saved_as_the_attempt_that_left_it(repo: Path, database_url: str) -> None:
    run_id = f"kept-{secrets.token_hex(3)}"

    def run(*flags: str) -> None:
        batch = ("--batch-id", f"b-{secrets.token_hex(4)}", "--run-ids", run_id)
        done = cli("run", "--database-url", database_url, *batch, *flags, cwd=repo)
        assert done.returncode in (0, 1), done.stdout + done.stderr

    run("--keep-worktrees", "--command", "echo one > one.txt; exit 1")
    kept = repo / ".autonomous_runs" / "workspaces" / run_id
    (kept / "later.txt").write_text("written after the attempt ended\n")
    run("--command", "true")

    # Attempt 1's worktree, with the file written after it ended, is attempt 1's ref — recorded as
    # what the shared store says attempt 1 was (failed), not as an unknown attempt 0 abandoned.
    ref = f"refs/parallel-runs/attempts/{run_id}/1"
    assert git(repo, "show", f"{ref}:later.txt") == "written after the attempt ended"
    assert git(repo, "log", "-1", "--format=%s", ref) == f"parallel-runs: {run_id} attempt 1 failed"
    assert not (repo / ".autonomous_runs" / run_id / f"{run_id}.db").exists()  # no stray local store


def test_a_leftover_that_cannot_be_saved_fails_the_run_instead_of_stalling_the_batch(
    repo: Path, database_url: str
) -> None:
    # Left claimed, the run was handed out again at every lease expiry, failing each time: the
    # batch never ended (here it would run into --max-batch-time).
    run_id, batch = f"stuck-{secrets.token_hex(3)}", f"b-{secrets.token_hex(4)}"
    leftover = repo / ".autonomous_runs" / "workspaces" / run_id
    leftover.mkdir(parents=True)
    (leftover / "notes.txt").write_text("not a worktree, not ours to delete\n")
    done = cli(
        *("run", "--database-url", database_url, "--batch-id", batch, "--run-ids", f"{run_id},fine-{batch}"),
        *("--lease-ttl", "5s", "--max-batch-time", "120s", "--command", "true"),
        cwd=repo,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    # The batch ended by itself, in the product's own words: not stopped by its 120 s budget (timed
    # from outside, a busy machine's slow start-ups counted too).
    assert "budget" not in done.stdout
    report = cli("report", "--format", "json", "--database-url", database_url, "--batch", batch, cwd=repo)
    rows = {row["run_id"]: row for row in json.loads(report.stdout)["runs"]}
    assert rows[run_id]["status"] == "failed"
    assert "leftover worktree could not be saved" in rows[run_id]["error"]
    assert rows[f"fine-{batch}"]["status"] == "succeeded"
    assert (leftover / "notes.txt").read_text() == "not a worktree, not ours to delete\n"
