"""--reuse-worktrees with the shared store: a worker killed mid-run leaves the run's files in its
reused worktree; the worker on the same machine that takes the run over saves them to the run's
branch first (as the killed attempt, `abandoned`), then runs the next attempt in its own."""

from __future__ import annotations

import signal
from pathlib import Path

from tests.e2e.postgres.test_shared_store_cli import attempt_statuses, batch_id, shared_run, signal_kill
from tests.helpers import cli, git, processes_with, start_cli, wait_for


def test_a_takeover_here_saves_the_killed_workers_reused_worktree_to_the_run(
    repo: Path, tmp_path: Path, database_url: str
) -> None:
    started, batch, marker = tmp_path / "started", batch_id(), "66.7893"
    command = (
        'if [ "$PARALLEL_RUNS_ATTEMPT" = 1 ]; then echo unsaved > unsaved.txt; '
        f"touch {started}; sleep {marker}; fi; echo ok > ok.txt"
    )
    reuse = ("--reuse-worktrees", "--lease-ttl", "5s")
    victim = start_cli(
        *shared_run(database_url, batch, "reused-victim"), *reuse, "--command", command, cwd=repo
    )
    try:
        wait_for(started.exists, what="the first attempt to start")
        [slot] = [path for path in (repo / ".autonomous_runs" / ".reuse").iterdir() if path.is_dir()]
        victim.send_signal(signal.SIGKILL)
        victim.communicate(timeout=10)
        rescuer = cli(
            "worker", "--batch", batch, "--database-url", database_url, *reuse, cwd=repo, timeout=120
        )
        assert rescuer.returncode == 0, rescuer.stdout + rescuer.stderr
    finally:
        for pid in processes_with(f"sleep {marker}"):
            signal_kill(pid)
    assert attempt_statuses(database_url, "reused-victim", batch) == [(1, "abandoned"), (2, "succeeded")]
    branch = "parallel-runs/reused-victim"
    assert git(repo, "show", f"{branch}:ok.txt") == "ok"
    # The killed attempt's file is on the branch's history: saved before attempt 2 reset the branch.
    kept = git(repo, "for-each-ref", "--format=%(refname)", "refs/parallel-runs/attempts/reused-victim/")
    assert any(git(repo, "show", f"{ref}:unsaved.txt") == "unsaved" for ref in kept.split()), kept
    assert not slot.exists()
    assert [path for path in (repo / ".autonomous_runs" / ".reuse").iterdir()] == []
