"""--reuse-worktrees and --keep-ignored (issue #22 item 2) against real git and real processes: a
worker's worktree is reset between runs, keeps only the named ignored paths, runs the setup once,
gives up reuse when a run's files cannot be saved, and a killed worker's worktree is recovered."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from parallel_runs import git as gitlib
from parallel_runs.core.layout import RunPaths
from parallel_runs.errors import GitError
from tests.helpers import cli, git, start_cli, wait_for

IGNORES = "*.pyc\nignored/\nnode_modules\n*.log\n"
SETUP = "mkdir -p node_modules && echo dep > node_modules/dep.js && pwd > node_modules/made-in"
# Fails when anything of an earlier run is here, then leaves something of every kind.
CHECK_THEN_MESS = (
    'test -z "$(git status --porcelain --untracked-files=all)" || { git status; exit 3; }; '
    "test ! -e junk.log -a ! -e ignored/x -a ! -e mine.txt || { echo leftover; exit 4; }; "
    "test -e node_modules/dep.js || exit 5; "
    # One path for the worker's worktree: what the setup wrote there (a venv's scripts) still fits.
    'test "$(cat node_modules/made-in)" = "$(pwd)" || exit 7; '
    'echo "$PARALLEL_RUNS_RUN_ID" > mine.txt; echo edit >> README.md; echo j > junk.log; '
    "mkdir -p ignored && echo i > ignored/x; echo more > node_modules/more.js"
)


def _repo(make_repo: Callable[..., Path]) -> Path:
    return make_repo(
        files={"README.md": "# demo\n", "app/calc.py": "x = 1\n", ".gitignore": IGNORES},
    )


def _logs(runs_dir: Path, ids: list[str]) -> dict[str, str]:
    return {run_id: (runs_dir / run_id / "run.log").read_text() for run_id in ids}


def test_a_reused_worktree_holds_nothing_of_the_last_run_but_what_keep_ignored_names(
    make_repo: Callable[..., Path],
) -> None:
    repo = _repo(make_repo)
    ids = [f"r{n}" for n in range(8)]
    flags = ("--reuse-worktrees", "--keep-ignored", "node_modules", "--setup-command", SETUP)
    done = cli(
        "run", "--run-ids", ",".join(ids), "--workers", "2", *flags, "--command", CHECK_THEN_MESS, cwd=repo
    )
    assert done.returncode == 0, done.stdout + done.stderr
    runs_dir = repo / ".autonomous_runs"
    logs = _logs(runs_dir, ids)
    fresh = [run_id for run_id, log in logs.items() if "--- parallel-runs: fresh worktree" in log]
    reused = [run_id for run_id, log in logs.items() if "--- parallel-runs: reused worktree" in log]
    setups = [run_id for run_id, log in logs.items() if "--- parallel-runs: setup ·" in log]
    assert sorted(fresh + reused) == ids
    assert 1 <= len(fresh) <= 2  # one worktree per worker
    assert setups == fresh  # the setup ran once per worktree: its output was kept for the others
    assert all("setup skipped: its output was kept (node_modules/)" in logs[run_id] for run_id in reused)
    for run_id in ids:  # each run's branch holds its own change, and no other run's
        assert git(repo, "show", f"parallel-runs/{run_id}:mine.txt") == run_id
        assert git(repo, "diff", "--name-only", "main", f"parallel-runs/{run_id}").split() == [
            "README.md",
            "mine.txt",
        ]
    # Each worker's worktree went with it, and its lock file too.
    assert list((runs_dir / ".reuse").iterdir()) == []
    assert len(git(repo, "worktree", "list", "--porcelain").split("\n\n")) == 1


def test_without_keep_ignored_a_reset_keeps_nothing_and_the_setup_runs_every_time(
    make_repo: Callable[..., Path],
) -> None:
    repo = _repo(make_repo)
    ids = ["a", "b", "c"]
    command = "test ! -e node_modules/more.js || exit 6; echo more > node_modules/more.js"
    flags = ("--reuse-worktrees", "--setup-command", SETUP, "--command", command)
    done = cli("run", "--run-ids", ",".join(ids), "--workers", "1", *flags, cwd=repo)
    assert done.returncode == 0, done.stdout + done.stderr
    logs = _logs(repo / ".autonomous_runs", ids)
    assert all("--- parallel-runs: setup ·" in log for log in logs.values())
    assert ["reused worktree" in logs[run_id] for run_id in ids] == [False, True, True]


def test_a_run_whose_files_cannot_all_be_saved_keeps_its_worktree_and_the_next_run_gets_a_fresh_one(
    make_repo: Callable[..., Path],
) -> None:
    repo = _repo(make_repo)
    nested = "git init -q nested && echo n > nested/f && git -C nested add f && git -C nested commit -qm n"
    command = f'if [ "$PARALLEL_RUNS_RUN_ID" = a ]; then {nested}; else test ! -e nested; fi'
    done = cli(
        "run", "--run-ids", "a,b", "--workers", "1", "--reuse-worktrees", "--command", command, cwd=repo
    )
    runs_dir = repo / ".autonomous_runs"
    # The nested repository is not saved (git cannot): it stays where `recover` and `cleanup` look.
    assert (runs_dir / "workspaces" / "a" / "nested" / "f").read_text() == "n\n"
    assert "exit 0" in done.stdout or "succeeded b" in done.stdout, done.stdout + done.stderr
    assert "--- parallel-runs: fresh worktree" in (runs_dir / "b" / "run.log").read_text()
    listed = cli("worktrees", "list", cwd=repo).stdout
    assert "a" in listed


def test_recover_saves_a_killed_workers_reused_worktree_to_the_run_it_names(
    make_repo: Callable[..., Path], markers: list[str]
) -> None:
    repo = _repo(make_repo)
    markers.append("717.25")
    command = (
        'echo "$PARALLEL_RUNS_RUN_ID" > mine.txt; '
        'if [ "$PARALLEL_RUNS_RUN_ID" = second ]; then echo unsaved > unsaved.txt; sleep 717.25; fi'
    )
    victim = start_cli(
        *("run", "--run-ids", "first,second", "--workers", "1", "--reuse-worktrees", "--command", command),
        cwd=repo,
    )
    runs_dir = repo / ".autonomous_runs"
    slots = runs_dir / ".reuse"
    wait_for(lambda: any(slots.glob("*/unsaved.txt")), what="the second run in the reused worktree")
    [slot] = [path.parent for path in slots.glob("*/unsaved.txt")]
    os.kill(victim.pid, signal.SIGKILL)  # the supervisor only: its run's command is left running
    victim.communicate()
    done = cli("recover", cwd=repo)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "recovered second" in done.stdout
    assert git(repo, "show", "parallel-runs/second:unsaved.txt") == "unsaved"
    assert git(repo, "show", "parallel-runs/second:mine.txt") == "second"
    assert git(repo, "show", "parallel-runs/first:mine.txt") == "first"
    assert not slot.exists()
    assert list(slots.iterdir()) == []  # its lock file went with it
    assert len(git(repo, "worktree", "list", "--porcelain").split("\n\n")) == 1


def _reused_rows(repo: Path) -> list[dict[str, object]]:
    done = cli("worktrees", "list", "--format", "json", cwd=repo)
    assert done.returncode == 0, done.stdout + done.stderr
    return [tree for tree in json.loads(done.stdout)["worktrees"] if tree["reused"]]


def test_worktrees_list_shows_a_reused_worktree_running_then_orphaned_then_gone_after_recover(
    make_repo: Callable[..., Path], markers: list[str]
) -> None:
    repo = _repo(make_repo)
    markers.append("718.25")
    command = 'echo "$PARALLEL_RUNS_RUN_ID" > mine.txt; sleep 718.25'
    victim = start_cli(
        *("run", "--run-ids", "held", "--workers", "1", "--reuse-worktrees", "--command", command), cwd=repo
    )
    slots = repo / ".autonomous_runs" / ".reuse"
    wait_for(lambda: any(slots.glob("*/mine.txt")), what="the run in its reused worktree")
    [slot] = [path.parent for path in slots.glob("*/mine.txt")]
    [live] = _reused_rows(repo)
    assert (live["path"], live["run_id"], live["slug"], live["branch"]) == (
        str(slot),
        "held",
        "held",
        "parallel-runs/held",
    )
    assert (live["state"], live["parked"], live["attempt"], live["dirty"]) == ("running", False, 1, True)
    assert isinstance(live["holder"], dict)
    assert live["holder"]["pid"] == victim.pid
    table = cli("worktrees", "list", cwd=repo, env={"COLUMNS": "250"}).stdout
    assert "running (reused)" in table
    assert str(slot) in table

    os.kill(victim.pid, signal.SIGKILL)  # the worker dies holding the run's files
    victim.communicate()
    [dead] = _reused_rows(repo)
    assert (dead["path"], dead["run_id"], dead["state"], dead["holder"]) == (
        str(slot),
        "held",
        "orphaned",
        None,
    )
    assert dead["status"] == "running"  # the attempt it died in, which `recover` marks abandoned

    done = cli("recover", cwd=repo)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "recovered held" in done.stdout
    assert _reused_rows(repo) == []


# A worker that parks its worktree after a run (saved, then reset) and dies between runs.
PARKER = r"""
import os, signal, sys
from pathlib import Path
from parallel_runs import git
from parallel_runs.core.layout import RunPaths
repo, runs_dir = Path(sys.argv[1]), Path(sys.argv[2])
slot = git.ReuseSlot.open(repo, runs_dir, name="w", keep=("node_modules",))
tree = git.ReusedWorktree(repo=repo, paths=RunPaths(runs_dir, "parked"), settings=None, slot=slot)
base = git.resolve_commit(repo, "HEAD")
workspace = tree.create(base_sha=base, attempt=1)
(workspace / "saved.txt").write_text("saved")
(workspace / "junk.log").write_text("junk")
(workspace / "node_modules").mkdir()
(workspace / "node_modules" / "dep.js").write_text("dep")
tree.save_changes(run_id="parked", attempt=1, outcome="succeeded", base_sha=base)
tree.remove(just_saved=True)
print(slot.path, slot.ready, ",".join(slot.kept), sorted(os.listdir(workspace)), flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_recover_discards_a_killed_workers_parked_worktree_which_holds_no_run(
    make_repo: Callable[..., Path],
) -> None:
    repo = _repo(make_repo)
    runs_dir = repo / ".autonomous_runs"
    done = subprocess.run(
        [sys.executable, "-c", PARKER, str(repo), str(runs_dir)], capture_output=True, text=True, check=False
    )
    assert done.returncode == -signal.SIGKILL, done.stderr
    path, ready, kept, listing = done.stdout.split(" ", 3)
    assert (ready, kept) == ("True", "node_modules/")
    assert listing.strip() == "['.git', '.gitignore', 'README.md', 'app', 'node_modules']"
    assert git(repo, "show", "parallel-runs/parked:saved.txt") == "saved"
    [parked] = _reused_rows(repo)  # its worker is dead: `recover` discards it
    assert (parked["path"], parked["state"], parked["parked"]) == (path, "orphaned", True)
    assert (parked["run_id"], parked["branch"], parked["slug"]) == (None, None, f".reuse/{Path(path).name}")
    assert "(parked)" in cli("worktrees", "list", cwd=repo, env={"COLUMNS": "250"}).stdout
    recovered = cli("recover", cwd=repo)
    assert recovered.returncode == 0, recovered.stdout + recovered.stderr
    assert f"discarded .reuse/{Path(path).name}" in recovered.stdout
    assert not Path(path).exists()
    assert list((runs_dir / ".reuse").iterdir()) == []
    assert len(git(repo, "worktree", "list", "--porcelain").split("\n\n")) == 1


def test_keep_ignored_refuses_a_pattern_that_keeps_everything(repo: Path) -> None:
    done = cli(
        "run",
        "--run-ids",
        "a",
        "--reuse-worktrees",
        "--keep-ignored",
        "node_modules,*",
        "--",
        "true",
        cwd=repo,
    )
    assert done.returncode == 2
    assert "--keep-ignored '*': a pattern that keeps everything" in done.stderr
    assert "Traceback" not in done.stderr


def test_keep_ignored_without_reuse_and_reuse_with_keep_worktrees_say_they_do_nothing(repo: Path) -> None:
    alone = cli("run", "--run-ids", "a", "--keep-ignored", "node_modules", "--", "true", cwd=repo)
    assert alone.returncode == 0, alone.stdout + alone.stderr
    assert "--keep-ignored does nothing without --reuse-worktrees" in alone.stderr
    both = cli("run", "--run-ids", "b", "--reuse-worktrees", "--keep-worktrees", "--", "true", cwd=repo)
    assert both.returncode == 0, both.stdout + both.stderr
    assert "--reuse-worktrees does nothing with --keep-worktrees" in both.stderr
    assert (repo / ".autonomous_runs" / "workspaces" / "b").is_dir()  # kept, as without reuse


def test_a_worker_whose_worktree_keeps_a_runs_files_it_cannot_hand_over_goes_on_in_a_new_one(
    make_repo: Callable[..., Path],
) -> None:
    repo = _repo(make_repo)
    runs_dir = repo / ".autonomous_runs"
    slot = gitlib.ReuseSlot.open(repo, runs_dir, name="w", keep=())
    base = gitlib.resolve_commit(repo, "HEAD")
    first = gitlib.ReusedWorktree(repo=repo, paths=RunPaths(runs_dir, "x"), settings=None, slot=slot)
    workspace = first.create(base_sha=base, attempt=1)
    git(workspace, "init", "-q", "nested")  # git cannot save it: the worktree must keep it
    (workspace / "nested" / "f").write_text("only here\n")
    first.save_changes(run_id="x", attempt=1, outcome="succeeded", base_sha=base)
    (runs_dir / "workspaces" / "x").mkdir(parents=True)  # the run's own path is taken: no hand-over
    (runs_dir / "workspaces" / "x" / "other").write_text("someone's\n")
    with pytest.raises(GitError, match="unsaved changes"):
        first.remove(just_saved=True)
    stuck = slot.path
    second = gitlib.ReusedWorktree(repo=repo, paths=RunPaths(runs_dir, "y"), settings=None, slot=slot)
    assert second.create(base_sha=base, attempt=1) == slot.path != stuck
    assert "fresh worktree" in slot.note
    assert (stuck / "nested" / "f").read_text() == "only here\n"  # left for `recover`, its lock naming x
    assert json.loads(stuck.with_name(f"{stuck.name}.lock").read_text())["slug"] == "x"
    slot.close()
