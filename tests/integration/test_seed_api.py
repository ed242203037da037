"""The seed-compatible Python API (Autopack "Parallel Runs v1" names) against real git and real locks."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from parallel_runs import (
    ExecutorLockManager,
    ParallelRunSupervisor,
    TestBaselineTracker,
    WorkspaceLease,
    WorkspaceManager,
)
from parallel_runs.core.ids import slugify
from parallel_runs.errors import AlreadyHeldError, ConfigError
from parallel_runs.seed import HeldError, SupervisorError
from tests.helpers import git, live_python

SEED_RESULT_KEYS = {"run_id", "success", "exit_code", "workspace", "stdout", "stderr", "error"}

# Holds a lease or an executor lock (our own classes, so nothing seed-specific helps) until stdin closes.
_HOLDER = """
import sys
from pathlib import Path
from parallel_runs.locks import RunLock, WorktreeLease
kind, target, runs_dir = sys.argv[1:]
if kind == "lease":
    lock = WorktreeLease(Path(target), runs_dir=Path(runs_dir))
else:
    lock = RunLock(target, runs_dir=Path(runs_dir))
assert lock.acquire()
print("held", flush=True)
sys.stdin.read()
"""


@pytest.fixture(autouse=True)
def no_runs_dir_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PARALLEL_RUNS_RUNS_DIR", raising=False)
    monkeypatch.delenv("PARALLEL_RUNS_DATABASE_URL", raising=False)


@contextmanager
def held_by_another_process(kind: str, target: str | Path, runs_dir: Path) -> Iterator[None]:
    """A live process holding the lease of workspace `target` (or the lock of slug `target`)."""
    with live_python(_HOLDER, kind, str(target), str(runs_dir), ready="held"):
        yield


def test_context_manager_creates_saves_and_removes(repo: Path) -> None:
    slug = slugify("exp/1")
    with WorkspaceManager("exp/1", source_repo=repo) as workspace:
        assert workspace == repo / ".autonomous_runs" / "workspaces" / slug
        assert git(workspace, "branch", "--show-current") == f"parallel-runs/{slug}"
        assert WorkspaceLease(workspace).is_locked()
        (workspace / "notes.txt").write_text("kept\n")
        (workspace / "README.md").write_text("changed\n")
    assert not workspace.exists()
    assert not WorkspaceLease(workspace).is_locked()
    assert git(repo, "show", f"parallel-runs/{slug}:notes.txt") == "kept"
    assert git(repo, "show", f"parallel-runs/{slug}:README.md") == "changed"
    assert git(repo, "log", "-1", "--format=%s", f"parallel-runs/{slug}").endswith("succeeded")
    assert git(repo, "status", "--porcelain") == ""  # the runs dir is excluded from the repository


def test_an_exception_inside_the_block_saves_the_work_as_failed(repo: Path) -> None:
    manager = WorkspaceManager("boom", source_repo=repo)

    def fail_inside() -> None:
        with manager as workspace:
            (workspace / "partial.txt").write_text("half\n")
            raise ValueError("bad")

    with pytest.raises(ValueError, match="bad"):
        fail_inside()
    assert not manager.worktree_path.exists()
    assert git(repo, "show", "parallel-runs/boom:partial.txt") == "half"
    assert git(repo, "log", "-1", "--format=%s", "parallel-runs/boom").endswith("failed")


def test_a_workspace_leased_by_another_live_process_is_left_alone(repo: Path) -> None:
    with WorkspaceManager("busy", source_repo=repo, cleanup_on_exit=False) as workspace:
        (workspace / "unsaved.txt").write_text("mine\n")
    runs_dir = repo / ".autonomous_runs"
    with held_by_another_process("lease", workspace, runs_dir):
        with pytest.raises(HeldError, match="already held") as raised:
            WorkspaceManager("busy", source_repo=repo).__enter__()
        assert isinstance(raised.value, RuntimeError)  # what the seed raised
        assert isinstance(raised.value, AlreadyHeldError)
        assert WorkspaceManager("busy", source_repo=repo).remove_worktree(force=True) is False
        assert WorkspaceManager.cleanup_all_worktrees(repo) == 0
        assert (workspace / "unsaved.txt").read_text() == "mine\n"
        assert git(workspace, "status", "--porcelain") == "?? unsaved.txt"
    # The holder is gone: cleanup saves the work to the run branch, then removes the worktree.
    assert WorkspaceManager.cleanup_all_worktrees(repo) == 1
    assert not workspace.exists()
    assert git(repo, "show", "parallel-runs/busy:unsaved.txt") == "mine"


def test_list_worktrees_gives_the_seed_dicts(repo: Path) -> None:
    with WorkspaceManager("kept", source_repo=repo, cleanup_on_exit=False) as workspace:
        pass
    [row] = WorkspaceManager.list_worktrees(repo)
    assert row["path"] == str(workspace)
    assert row["branch"] == "refs/heads/parallel-runs/kept"
    assert row["commit"] == git(repo, "rev-parse", "HEAD")
    assert row["locked"] is False
    assert ParallelRunSupervisor.list_worktrees(repo) == [row]


def test_cleanup_under_a_custom_base_saves_first(repo: Path, tmp_path: Path) -> None:
    base = tmp_path / "trees"
    with WorkspaceManager("c1", source_repo=repo, worktree_base=base, cleanup_on_exit=False) as workspace:
        (workspace / "work.txt").write_text("done\n")
    assert workspace == base / "c1"
    (base / "not-a-worktree").mkdir()
    (base / "not-a-worktree" / "file").write_text("x")
    assert WorkspaceManager.cleanup_all_worktrees(repo, base) == 1
    assert not workspace.exists()
    assert (base / "not-a-worktree" / "file").exists()  # not ours to delete
    assert git(repo, "show", "parallel-runs/c1:work.txt") == "done"


def test_relative_paths_become_absolute(repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    manager = WorkspaceManager("rel", source_repo="repo", worktree_base="trees")
    assert manager.source_repo == repo
    assert manager.worktree_base == tmp_path / "trees"
    with manager as workspace:
        assert workspace == tmp_path / "trees" / "rel"
        monkeypatch.chdir(repo)  # where the process stands later changes nothing
        (workspace / "x.txt").write_text("x\n")
    assert not workspace.exists()
    assert git(repo, "show", "parallel-runs/rel:x.txt") == "x"


def test_lease_nested_in_its_manager_is_shared_only_by_that_thread(repo: Path) -> None:
    with WorkspaceManager("nest", source_repo=repo) as workspace, WorkspaceLease(workspace) as lease:
        assert lease.is_locked()
        elsewhere: list[bool] = []
        thread = threading.Thread(target=lambda: elsewhere.append(WorkspaceLease(workspace).acquire()))
        thread.start()
        thread.join()
        assert elsewhere == [False]
    assert not WorkspaceLease(workspace).is_locked()


def test_a_second_lease_on_the_same_workspace_is_refused(tmp_path: Path) -> None:
    workspace = tmp_path / "runs" / "workspaces" / "x"
    first, second = WorkspaceLease(workspace), WorkspaceLease(workspace)
    assert first.lease_dir == tmp_path / "runs" / ".workspace_leases"
    assert first.acquire() is True
    assert second.acquire() is False
    assert second.is_locked()
    with pytest.raises(RuntimeError, match="already held"), second:
        pytest.fail("entered a held lease")
    first.release()
    assert second.acquire() is True
    second.release()


@pytest.mark.parametrize("kind", ["lease", "lock"])
def test_force_unlock_refuses_while_a_live_process_holds_it(tmp_path: Path, kind: str) -> None:
    runs_dir = tmp_path / "runs"
    workspace = runs_dir / "workspaces" / "x"
    lock = WorkspaceLease(workspace) if kind == "lease" else ExecutorLockManager("x", runs_dir / ".locks")
    with held_by_another_process(kind, workspace if kind == "lease" else "x", runs_dir):
        with pytest.raises(HeldError, match="already held"):
            lock.force_unlock()
        assert lock.lock_file_path.exists()
        assert lock.is_locked()
    assert not lock.is_locked()
    assert lock.force_unlock() is True  # stale: its holder is gone
    assert not lock.lock_file_path.exists()
    assert lock.force_unlock() is False


def test_executor_locks_of_similar_run_ids_do_not_collide(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUTONOMOUS_RUNS_DIR", str(tmp_path / "runs"))
    slashed, dashed = ExecutorLockManager("a/b"), ExecutorLockManager("a-b")
    assert slashed.lock_file_path != dashed.lock_file_path
    assert slashed.lock_dir == dashed.lock_dir == tmp_path / "runs" / ".locks"
    assert slashed.acquire() is True
    assert dashed.acquire() is True
    assert ExecutorLockManager("a/b").acquire() is False
    slashed.release()
    dashed.release()


def test_relative_lock_dir_becomes_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    lock = ExecutorLockManager("r", lock_dir="state/.locks")
    assert lock.lock_file_path == tmp_path / "state" / ".locks" / "r.lock"


def test_supervisor_runs_a_real_batch(repo: Path) -> None:
    command = 'test "$PARALLEL_RUNS_RUN_ID" != bad && printf %s "$PARALLEL_RUNS_RUN_ID" > who.txt'
    supervisor = ParallelRunSupervisor(repo, None, per_run_sqlite=True, command=command)
    results = supervisor.execute_parallel(["one", "two words", "bad"], max_workers=2)
    assert list(results) == ["one", "two words", "bad"]
    for run_id in ("one", "two words"):
        assert results[run_id].keys() >= SEED_RESULT_KEYS
        assert results[run_id]["success"] is True
        assert results[run_id]["exit_code"] == 0
        assert not Path(str(results[run_id]["workspace"])).exists()
        assert git(repo, "show", f"parallel-runs/{slugify(run_id)}:who.txt") == run_id
    assert results["bad"]["success"] is False
    assert results["bad"]["exit_code"] == 1
    assert results["bad"]["outcome"] == "failed"
    assert Path(str(results["bad"]["log_path"])).is_file()


def test_supervisor_appends_extra_args_to_an_argv_command(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(repo)
    command = ["bash", "-c", 'printf %s "$*" > args.txt', "bash"]
    supervisor = ParallelRunSupervisor(repo, None, autonomous_runs_dir="state", command=command)
    result = supervisor.execute_run("x", extra_args=["--flag", "two words"])
    assert result["success"] is True
    assert supervisor.autonomous_runs_dir == repo / "state"
    assert git(repo, "show", "parallel-runs/x:args.txt") == "--flag two words"


def test_supervisor_without_a_command_says_so(repo: Path) -> None:
    supervisor = ParallelRunSupervisor(repo, None, per_run_sqlite=True)
    with pytest.raises(SupervisorError, match="command") as raised:
        supervisor.execute_parallel(["a"])
    assert isinstance(raised.value, ConfigError)


def test_the_baseline_tracker_of_a_run_worktree_caches_in_that_runs_dir(repo: Path, tmp_path: Path) -> None:
    runs_dir = tmp_path / "state"
    base = runs_dir / "workspaces"
    with WorkspaceManager("x", source_repo=repo, worktree_base=base, cleanup_on_exit=False) as workspace:
        pass
    assert workspace == base / "x"
    tracker = TestBaselineTracker(workspace, run_id="x")
    assert tracker.runs_dir == runs_dir
    assert tracker.cache_dir.is_relative_to(runs_dir / "x" / "baselines")
    assert not (workspace / ".autonomous_runs").exists()  # nothing written into the run's worktree
