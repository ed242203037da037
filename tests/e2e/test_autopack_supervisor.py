"""`autopack-supervisor`: the seed's flags, as a real subprocess, carried out by parallel-runs."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
from pathlib import Path

import pytest

from parallel_runs.errors import AlreadyHeldError
from parallel_runs.seed import ExecutorLockManager, HeldError
from tests.helpers import cli, git, live_python

SCRIPTS = Path(sys.executable).parent  # the console scripts installed next to this interpreter

# Holds the seed's executor lock of run `sys.argv[1]` under lock dir `sys.argv[2]` until stdin closes.
_LOCK_HOLDER = """
import sys
from parallel_runs.seed import ExecutorLockManager
with ExecutorLockManager(sys.argv[1], lock_dir=sys.argv[2]):
    print("held", flush=True)
    sys.stdin.read()
"""


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


def script(name: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the installed console script `name` (not `python -m`): its entry point is what is tested."""
    path = SCRIPTS / name
    assert path.is_file(), f"console script {name} is not installed next to {sys.executable}"
    return subprocess.run(
        [str(path), *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def test_the_installed_console_scripts_start(repo: Path) -> None:
    helped = script("autopack-supervisor", "--help", cwd=repo)
    assert helped.returncode == 0, helped.stderr
    assert helped.stdout.startswith("usage: autopack-supervisor")
    for text in ("--autonomous-runs-dir", "--run-ids", "parallel-runs run"):
        assert text in helped.stdout
    versioned = script("parallel-runs", "--version", cwd=repo)
    assert versioned.returncode == 0, versioned.stderr
    assert versioned.stdout.strip() == f"parallel-runs {importlib.metadata.version('parallel-runs')}"
    # And the supervisor script really carries out a batch.
    done = script("autopack-supervisor", "--run-ids", "via-script", "--command", "echo s > s.txt", cwd=repo)
    assert done.returncode == 0, done.stdout + done.stderr
    assert git(repo, "show", "parallel-runs/via-script:s.txt") == "s"


def test_an_executor_lock_held_by_another_process_refuses_the_with_block(tmp_path: Path) -> None:
    lock_dir = tmp_path / "runs" / ".locks"
    entered = []
    with live_python(_LOCK_HOLDER, "exp/1", str(lock_dir), ready="held") as holder:
        lock = ExecutorLockManager("exp/1", lock_dir=lock_dir)
        with pytest.raises(HeldError) as raised, lock:
            entered.append(True)
        assert entered == []
        # The seed's callers catch RuntimeError; ours catch AlreadyHeldError: both work.
        assert isinstance(raised.value, RuntimeError)
        assert isinstance(raised.value, AlreadyHeldError)
        assert "already held by" in str(raised.value)
        assert f"pid {holder.pid}" in str(raised.value)
        assert lock.is_locked()
        assert lock.lock_file_path.exists()  # the live holder's lock was not taken away
    # Its holder gone, the same lock is taken and released by the with block.
    with ExecutorLockManager("exp/1", lock_dir=lock_dir) as lock:
        entered.append(lock.is_locked())
    assert entered == [True]
    assert not ExecutorLockManager("exp/1", lock_dir=lock_dir).is_locked()


def test_list_worktrees_and_cleanup(repo: Path) -> None:
    kept = cli("run", "--run-ids", "kept", "--keep-worktrees", "--command", "echo x > y.txt", cwd=repo)
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


def test_the_seed_alias_keeps_the_seeds_database_url_contract(repo: Path, tmp_path: Path) -> None:
    store = tmp_path / "one.db"
    os.environ["DATABASE_URL"] = f"sqlite:///{store}"  # read by the alias only (conftest restores it)
    try:
        done = supervisor(
            "--run-ids", "a", "--workers", "1", "--command", 'echo "$DATABASE_URL" > url.txt', cwd=repo
        )
    finally:
        del os.environ["DATABASE_URL"]
    assert done.returncode == 0, done.stderr
    assert store.is_file()  # the store DATABASE_URL named
    assert git(repo, "show", "parallel-runs/a:url.txt") == f"sqlite:///{store}"  # and the run was told so
