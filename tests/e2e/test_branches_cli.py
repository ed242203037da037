"""`parallel-runs branches prune` (issue #12 §4): finished runs' refs go, no commit is lost unless --force."""

from __future__ import annotations

from pathlib import Path

import pytest

from parallel_runs.cli import main
from tests.helpers import cli, finish, git, start_cli, wait_for

# `same` changes nothing (its branch is the base commit); the others commit a file of their own.
EDIT = "case {run_id} in same) ;; *) echo {run_id} > file-{run_id}.txt ;; esac"
FLAKY = "echo $PARALLEL_RUNS_ATTEMPT > attempt.txt; [ $PARALLEL_RUNS_ATTEMPT = 2 ]"


def refs(repo: Path) -> set[str]:
    out = git(repo, "for-each-ref", "--format=%(refname)", "refs/heads/parallel-runs/", "refs/parallel-runs/")
    return set(out.split())


def prune(capsys: pytest.CaptureFixture[str], *flags: str) -> tuple[set[str], dict[str, str]]:
    """Deleted refs, and kept ref -> reason."""
    assert main(["branches", "prune", *flags]) == 0
    deleted, kept = set(), {}
    for line in capsys.readouterr().out.splitlines():
        if line.startswith("deleted "):
            deleted.add(line.split()[1])
        elif line.startswith("kept "):
            name, reason = line.removeprefix("kept").strip().split(": ", 1)
            kept[name] = reason
    return deleted, kept


def test_prune_deletes_finished_runs_refs_and_keeps_every_commit(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for args in (
        ["--run-ids", "same,work,merged", "--command", EDIT],
        ["--run-ids", "retry", "--retries", "1", "--command", FLAKY],
        ["--run-ids", "kept", "--keep-worktrees", "--command", EDIT],
    ):
        done = cli("run", *args, cwd=repo)
        assert done.returncode == 0, done.stdout + done.stderr
    monkeypatch.chdir(repo)
    attempt_ref = "refs/parallel-runs/attempts/retry/1"
    assert attempt_ref in refs(repo)

    deleted, kept = prune(capsys, "--older-than", "30d")
    assert deleted == set()
    assert kept["parallel-runs/work"].startswith("younger than 30d")

    deleted, kept = prune(capsys, "--merged")
    assert deleted == {"parallel-runs/same"}  # its tip is the base commit, which main has
    assert kept["parallel-runs/merged"] == "not merged into the current branch"
    assert "still has a worktree" in kept["parallel-runs/kept"]

    git(repo, "merge", "--quiet", "--no-ff", "--no-edit", "parallel-runs/merged")
    git(repo, "branch", "parallel-runs/copy", "parallel-runs/work")  # two refs, one commit
    deleted, kept = prune(capsys)
    only = "1 commit(s) reachable from nowhere else (--force deletes it)"
    assert "parallel-runs/merged" in deleted
    assert kept["parallel-runs/retry"] == only
    assert kept[attempt_ref] == only
    assert len({"parallel-runs/copy", "parallel-runs/work"} & deleted) == 1  # one copy is enough
    assert git(repo, "branch", "--contains", git(repo, "rev-parse", "parallel-runs/retry")) != ""

    gate = tmp_path / "gate"
    runner = start_cli(
        "run", "--run-ids", "busy", "--command", f"until [ -e {gate} ]; do sleep 0.05; done", cwd=repo
    )
    try:
        wait_for((repo / ".autonomous_runs" / "workspaces" / "busy").is_dir, what="the run to start")
        deleted, kept = prune(capsys, "--force")
    finally:
        gate.touch()
        finish(runner)
    assert {"parallel-runs/retry", attempt_ref} <= deleted
    assert kept["parallel-runs/busy"].startswith("its run is running (held by host")
    assert refs(repo) == {"refs/heads/parallel-runs/busy", "refs/heads/parallel-runs/kept"}
