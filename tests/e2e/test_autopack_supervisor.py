"""`autopack-supervisor`: the seed's flags, as a real subprocess, carried out by parallel-runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import git, run_cli


@pytest.fixture(autouse=True)
def no_settings_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PARALLEL_RUNS_RUNS_DIR", "PARALLEL_RUNS_DATABASE_URL", "PARALLEL_RUNS_COMMAND"):
        monkeypatch.delenv(name, raising=False)


def supervisor(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run `python -m parallel_runs.cli.seed ARGS` (what the autopack-supervisor script runs)."""
    return subprocess.run(
        [sys.executable, "-m", "parallel_runs.cli.seed", *args],
        cwd=cwd,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_seed_invocation_runs_a_batch(repo: Path) -> None:
    done = supervisor("--run-ids", "a,b", "--workers", "2", "--per-run-sqlite", "--command", "true", cwd=repo)
    assert done.returncode == 0, done.stderr
    assert git(repo, "branch", "--list", "parallel-runs/*").split() == ["parallel-runs/a", "parallel-runs/b"]
    assert (repo / ".autonomous_runs" / "a" / "a.db").is_file()  # per-run SQLite


def test_command_after_double_dash_and_failures_give_exit_1(repo: Path) -> None:
    done = supervisor(
        "--run-ids", "ok,bad", "--", "bash", "-c", 'test "$PARALLEL_RUNS_RUN_ID" = ok', cwd=repo
    )
    assert done.returncode == 1, done.stderr


def test_relative_autonomous_runs_dir(repo: Path) -> None:
    done = supervisor(
        "--run-ids", "a", "--autonomous-runs-dir", "state", "--command", "pwd > where.txt", cwd=repo
    )
    assert done.returncode == 0, done.stderr
    assert (repo / "state" / "a" / "result.json").is_file()
    assert git(repo, "show", "parallel-runs/a:where.txt") == str(repo / "state" / "workspaces" / "a")
    assert git(repo, "status", "--porcelain") == ""


def test_without_a_command_it_says_to_give_one(repo: Path) -> None:
    done = supervisor("--run-ids", "a,b", "--workers", "2", cwd=repo)
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1
    assert "--command" in done.stderr
    assert git(repo, "branch", "--list", "parallel-runs/*") == ""


def test_unknown_flag_is_one_line_exit_2(repo: Path) -> None:
    done = supervisor("--run-ids", "a", "--no-such-flag", "--command", "true", cwd=repo)
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1
    assert "--no-such-flag" in done.stderr


def test_help_explains_the_mapping(repo: Path) -> None:
    done = supervisor("--help", cwd=repo)
    assert done.returncode == 0
    for text in ("--autonomous-runs-dir", "--runs-dir", "worktrees list", "cleanup", "--command"):
        assert text in done.stdout


def test_list_worktrees_and_cleanup(repo: Path) -> None:
    kept = run_cli("run", "--run-ids", "kept", "--keep-worktrees", "--command", "echo x > y.txt", cwd=repo)
    assert kept.returncode == 0, kept.stderr
    workspace = repo / ".autonomous_runs" / "workspaces" / "kept"
    assert workspace.is_dir()

    listed = supervisor("--list-worktrees", cwd=repo)
    assert listed.returncode == 0, listed.stderr
    assert "kept" in listed.stdout

    cleaned = supervisor("--cleanup", cwd=repo)
    assert cleaned.returncode == 0, cleaned.stderr
    assert not workspace.exists()
    assert git(repo, "show", "parallel-runs/kept:y.txt") == "x"
