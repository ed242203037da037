"""Acceptance of `worktrees list`, `cleanup` and `recover` (issue #3 item 6), driving the real CLI."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import cli, git, processes_with, start_cli, wait_for


@pytest.fixture
def released(tmp_path: Path) -> Iterator[Path]:
    """A release file that live runs wait for; touched at teardown so no run outlives its test."""
    release = tmp_path / "release"
    yield release
    release.touch()


def waiting_command(started: Path, release: Path) -> str:
    wait = f"while [ ! -e {release} ]; do sleep 0.05; done"
    return f"touch {started}/$PARALLEL_RUNS_RUN_ID; {wait}; echo done > done.txt"


def listed(repo: Path) -> dict[str, dict[str, object]]:
    done = cli("worktrees", "list", "--format", "json", cwd=repo)
    assert done.returncode == 0, done.stdout + done.stderr
    return {str(tree["run_id"]): tree for tree in json.loads(done.stdout)["worktrees"]}


def statuses(repo: Path, slug: str) -> list[tuple[int, str]]:
    database = repo / ".autonomous_runs" / slug / f"{slug}.db"
    with sqlite3.connect(database) as connection:
        return connection.execute("select attempt, status from attempts order by attempt").fetchall()


def has_child_pgid(repo: Path, slug: str) -> bool:
    text = (repo / ".autonomous_runs" / ".locks" / f"{slug}.lock").read_text()
    return bool(text.strip()) and "child_pgid" in json.loads(text)


def kill9_mid_batch(repo: Path, tmp_path: Path, ids: list[str], marker: str) -> None:
    """Start a batch whose commands leave an uncommitted file and sleep, then kill -9 the whole CLI."""
    started = tmp_path / "started"
    started.mkdir(exist_ok=True)
    save = 'echo "precious $PARALLEL_RUNS_RUN_ID" > unsaved.txt'
    command = f"{save}; touch {started}/$PARALLEL_RUNS_RUN_ID; sleep {marker}"
    victim = start_cli(
        "run", "--run-ids", ",".join(ids), "--workers", str(len(ids)), "--command", command, cwd=repo
    )
    # The commands have started, and each group is on record for whoever recovers after us.
    wait_for(lambda: all((started / i).exists() and has_child_pgid(repo, i) for i in ids), what="the runs")
    victim.send_signal(signal.SIGKILL)
    victim.communicate(timeout=10)
    # Each command's shim sees its supervisor gone and kills it; the worktrees are left to `recover`.
    wait_for(lambda: not processes_with(f"sleep {marker}"), what="the shims to stop the orphaned commands")


def test_cleanup_never_removes_the_worktree_of_an_executing_run(
    repo: Path, tmp_path: Path, released: Path
) -> None:
    started = tmp_path / "started"
    started.mkdir()
    live = start_cli("run", "--run-ids", "live", "--command", waiting_command(started, released), cwd=repo)
    try:
        wait_for((started / "live").exists, what="the run to start")
        cleaned = cli("cleanup", cwd=repo)
        assert cleaned.returncode == 0, cleaned.stdout + cleaned.stderr
        assert "skipped" in cleaned.stdout
        assert "running" in cleaned.stdout
        assert f"pid {live.pid}" in cleaned.stdout
        assert (repo / ".autonomous_runs" / "workspaces" / "live").is_dir()
        assert listed(repo)["live"]["state"] == "running"
        released.touch()
        out, err = live.communicate(timeout=60)
    finally:
        released.touch()
        if live.poll() is None:
            live.kill()
    assert live.returncode == 0, out + err
    assert statuses(repo, "live") == [(1, "succeeded")]
    assert git(repo, "show", "parallel-runs/live:done.txt") == "done"


def test_cleanup_saves_a_kept_worktree_then_removes_it(repo: Path) -> None:
    done = cli("run", "--run-ids", "kept", "--keep-worktrees", "--command", "echo ran > ran.txt", cwd=repo)
    assert done.returncode == 0, done.stdout + done.stderr
    workspace = repo / ".autonomous_runs" / "workspaces" / "kept"
    (workspace / "edited-by-hand.txt").write_text("a user's edit after the run\n")
    tree = listed(repo)["kept"]
    assert (tree["state"], tree["dirty"], tree["attempt"]) == ("finished", True, 1)

    cleaned = cli("cleanup", cwd=repo)
    assert cleaned.returncode == 0, cleaned.stdout + cleaned.stderr
    assert "removed" in cleaned.stdout
    assert "kept" in cleaned.stdout
    assert not workspace.exists()
    assert git(repo, "show", "parallel-runs/kept:edited-by-hand.txt") == "a user's edit after the run"
    assert git(repo, "show", "parallel-runs/kept:ran.txt") == "ran"
    assert (
        git(repo, "log", "-1", "--format=%s", "parallel-runs/kept")
        == "parallel-runs: kept attempt 1 succeeded"
    )
    assert listed(repo) == {}
    assert git(repo, "worktree", "list", "--porcelain").count("worktree ") == 1


def test_cleanup_older_than(repo: Path) -> None:
    done = cli("run", "--run-ids", "old", "--keep-worktrees", "--command", "true", cwd=repo)
    assert done.returncode == 0, done.stdout + done.stderr
    workspace = repo / ".autonomous_runs" / "workspaces" / "old"
    fresh = cli("cleanup", "--older-than", "72h", cwd=repo)
    assert fresh.returncode == 0, fresh.stdout + fresh.stderr
    assert "younger than" in fresh.stdout
    assert workspace.is_dir()
    long_ago = time.time() - 3 * 86_400
    os.utime(workspace, (long_ago, long_ago))
    assert float(str(listed(repo)["old"]["age_seconds"])) > 2 * 86_400
    aged = cli("cleanup", "--older-than", "1s", cwd=repo)
    assert aged.returncode == 0, aged.stdout + aged.stderr
    assert not workspace.exists()


def test_kill_9_mid_batch_then_recover(repo: Path, tmp_path: Path, markers: list[str]) -> None:
    markers.append("63.4567")
    kill9_mid_batch(repo, tmp_path, ["k1", "k2"], "63.4567")
    states = {run: tree["state"] for run, tree in listed(repo).items()}
    assert states == {"k1": "orphaned", "k2": "orphaned"}
    cleaned = cli("cleanup", cwd=repo)  # orphans are recover's: cleanup leaves them
    assert "recover" in cleaned.stdout
    assert set(listed(repo)) == {"k1", "k2"}

    recovered = cli("recover", cwd=repo)
    assert recovered.returncode == 0, recovered.stdout + recovered.stderr
    assert recovered.stdout.count("recovered") == 2
    for run in ("k1", "k2"):
        assert git(repo, "show", f"parallel-runs/{run}:unsaved.txt") == f"precious {run}"
        assert "abandoned" in git(repo, "log", "-1", "--format=%B", f"parallel-runs/{run}")
        assert statuses(repo, run) == [(1, "abandoned")]
    wait_for(lambda: not processes_with("sleep 63.4567"), timeout=5, what="the orphaned sleeps to be killed")
    assert listed(repo) == {}
    assert "nothing to recover" in cli("recover", cwd=repo).stdout

    # Nothing is left that blocks the runs: they start again at once, as attempt 2.
    again = cli("run", "--run-ids", "k1,k2", "--workers", "2", "--command", "true", cwd=repo, timeout=60)
    assert again.returncode == 0, again.stdout + again.stderr
    for run in ("k1", "k2"):
        assert statuses(repo, run) == [(1, "abandoned"), (2, "succeeded")]
        assert git(repo, "show", f"refs/parallel-runs/attempts/{run}/1:unsaved.txt") == f"precious {run}"


def test_list_json_shows_running_finished_and_orphaned(
    repo: Path, tmp_path: Path, markers: list[str], released: Path
) -> None:
    done = cli("run", "--run-ids", "done", "--keep-worktrees", "--command", "true", cwd=repo)
    assert done.returncode == 0, done.stdout + done.stderr
    started = tmp_path / "started-live"
    started.mkdir()
    live = start_cli("run", "--run-ids", "live", "--command", waiting_command(started, released), cwd=repo)
    try:
        wait_for((started / "live").exists, what="the live run to start")
        # Killed after `live` started: a `run` starting later would recover the orphan first.
        markers.append("64.5678")
        kill9_mid_batch(repo, tmp_path, ["dead"], "64.5678")
        trees = listed(repo)
        assert {run: tree["state"] for run, tree in trees.items()} == {
            "done": "finished",
            "dead": "orphaned",
            "live": "running",
        }
        holder = trees["live"]["holder"]
        assert isinstance(holder, dict)
        assert holder["pid"] == live.pid
        assert trees["dead"]["holder"] is None
        assert trees["dead"]["dirty"] is True
        assert trees["dead"]["status"] == "running"
        assert trees["done"]["status"] == "succeeded"
        table = cli("worktrees", "list", cwd=repo, env={"COLUMNS": "250"})
        assert table.returncode == 0, table.stderr
        for word in ("done", "dead", "live", "finished", "orphaned", "running", "dirty", "clean"):
            assert word in table.stdout
        released.touch()
        live.communicate(timeout=60)
    finally:
        released.touch()
        if live.poll() is None:
            live.kill()
    assert cli("recover", cwd=repo).returncode == 0
    assert set(listed(repo)) == {"done"}


@pytest.mark.parametrize(
    "args",
    [
        ("cleanup", "--older-than", "soon"),
        ("cleanup", "--older-than", "0"),
        ("worktrees", "list", "--format", "xml"),
        ("worktrees",),
        ("recover", "--source-repo", "/no/such/dir"),
        ("recover", "--bogus"),
    ],
)
def test_bad_input_is_one_line_exit_2(repo: Path, args: tuple[str, ...]) -> None:
    done = cli(*args, cwd=repo)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "Traceback" not in done.stderr


def test_outside_a_repository_is_exit_2(tmp_path: Path) -> None:
    outside = cli("worktrees", "list", cwd=tmp_path)
    assert outside.returncode == 2, outside.stdout + outside.stderr
    assert "not a git repository" in outside.stderr


def test_run_recovers_what_a_killed_batch_left_behind_before_starting(
    repo: Path, tmp_path: Path, markers: list[str]
) -> None:
    markers.append("65.6789")
    kill9_mid_batch(repo, tmp_path, ["left"], "65.6789")
    other = cli("run", "--run-ids", "other", "--command", "true", cwd=repo)
    assert other.returncode == 0, other.stdout + other.stderr
    assert listed(repo) == {}  # the orphan of `left` was saved and removed by the new batch
    assert git(repo, "show", "parallel-runs/left:unsaved.txt") == "precious left"
    assert statuses(repo, "left") == [(1, "abandoned")]


def test_recover_gets_past_a_stale_index_lock_and_a_run_that_set_core_bare(
    repo: Path, tmp_path: Path, markers: list[str]
) -> None:
    markers.append("66.5678")
    started = tmp_path / "started"
    hostile = (
        'touch "$(git rev-parse --git-dir)/index.lock"; echo precious > unsaved.txt; '
        f"git config core.bare true; touch {started}; sleep 66.5678"
    )
    victim = start_cli("run", "--run-ids", "hostile", "--command", hostile, cwd=repo)
    wait_for(lambda: started.exists() and has_child_pgid(repo, "hostile"), what="the run")
    victim.send_signal(signal.SIGKILL)
    victim.communicate(timeout=10)

    recovered = cli("recover", cwd=repo)
    assert recovered.returncode == 0, recovered.stdout + recovered.stderr
    wait_for(lambda: not processes_with("sleep 66.5678"), timeout=5, what="the orphaned command to be killed")
    git(repo, "config", "core.bare", "false")  # the run's change to the shared config is the user's to undo
    assert git(repo, "show", "parallel-runs/hostile:unsaved.txt") == "precious"
    assert listed(repo) == {}


def test_cleanup_keeps_the_saved_commit_a_kept_worktree_was_reset_behind(repo: Path) -> None:
    # Found by the chaos suite (R6): the branch moved back, and the run's saved commit was only in a reflog.
    done = cli("run", "--run-ids", "back", "--keep-worktrees", "--command", "echo s > saved.txt", cwd=repo)
    assert done.returncode == 0, done.stdout + done.stderr
    workspace = repo / ".autonomous_runs" / "workspaces" / "back"
    git(workspace, "reset", "--quiet", "--hard", "HEAD~1")
    (workspace / "later.txt").write_text("after the reset\n")
    cleaned = cli("cleanup", cwd=repo)
    assert cleaned.returncode == 0, cleaned.stdout + cleaned.stderr
    assert git(repo, "show", "refs/parallel-runs/attempts/back/1:saved.txt") == "s"
    assert git(repo, "show", "parallel-runs/back:later.txt") == "after the reset"


@pytest.mark.parametrize("lock", ["branch", "scratch index", "HEAD"])
def test_cleanup_gets_past_the_lock_a_save_killed_mid_write_left(repo: Path, lock: str) -> None:
    # Found by the chaos suite (R2): a save killed with its git (update-ref, write-tree) left a lock
    # file that made every later save of the worktree fail, so recover and cleanup never got past it.
    done = cli("run", "--run-ids", "locked", "--keep-worktrees", "--command", "echo s > s.txt", cwd=repo)
    assert done.returncode == 0, done.stdout + done.stderr
    workspace = repo / ".autonomous_runs" / "workspaces" / "locked"
    gitdir = Path(git(workspace, "rev-parse", "--absolute-git-dir"))
    stale = {
        "branch": repo / ".git" / "refs" / "heads" / "parallel-runs" / "locked.lock",
        "scratch index": gitdir / "parallel-runs.index.lock",
        "HEAD": gitdir / "HEAD.lock",
    }[lock]
    git(workspace, "checkout", "--quiet", "--detach")  # the save re-attaches HEAD: it takes HEAD.lock too
    stale.write_text("")
    (workspace / "later.txt").write_text("after the run\n")
    cleaned = cli("cleanup", cwd=repo)
    assert cleaned.returncode == 0, cleaned.stdout + cleaned.stderr
    assert git(repo, "show", "parallel-runs/locked:later.txt") == "after the run"
