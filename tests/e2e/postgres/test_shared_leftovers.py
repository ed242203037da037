"""A worktree left on this machine by an earlier attempt of a shared-store run is saved as that attempt."""

from __future__ import annotations

import secrets
from pathlib import Path

from tests.helpers import git, run_cli


def test_a_kept_worktree_is_saved_as_the_attempt_that_left_it(repo: Path, database_url: str) -> None:
    run_id = f"kept-{secrets.token_hex(3)}"

    def run(*flags: str) -> None:
        batch = ("--batch-id", f"b-{secrets.token_hex(4)}", "--run-ids", run_id)
        done = run_cli("run", "--database-url", database_url, *batch, *flags, cwd=repo)
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
