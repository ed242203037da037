"""list_worktrees, cleanup, recover against real git, real stores and real dead or live holder processes."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from pathlib import Path

from parallel_runs import git as gitlib
from parallel_runs.core.layout import RunPaths
from parallel_runs.core.model import Outcome
from parallel_runs.locks import RunLock, WorktreeLease
from parallel_runs.maintenance import WorktreeState, cleanup, list_worktrees, recover
from parallel_runs.store import RunStore
from tests.helpers import cli, git, live_python, processes_with, wait_for

# A holder process built from the library's own pieces, in the order execution uses them. `stage`:
# lock-only (dies holding only its lock), unrecorded (dies after creating the worktree, before
# recording the attempt), recorded (dies mid-attempt), live (stays, holding everything, until stdin closes).
HOLDER = r"""
import os, signal, socket, subprocess, sys
from datetime import UTC, datetime
from pathlib import Path
from parallel_runs import git
from parallel_runs.core.layout import RunPaths
from parallel_runs.locks import RunLock, WorktreeLease
from parallel_runs.store import RunStore

repo, runs_dir, slug, marker, stage = Path(sys.argv[1]), Path(sys.argv[2]), *sys.argv[3:6]
paths = RunPaths(runs_dir, slug)
lease = WorktreeLease(paths.workspace, runs_dir=runs_dir)
lock = RunLock(slug, runs_dir=runs_dir, run_id=slug)
lease.acquire_or_raise()
lock.acquire_or_raise()
for held in (lease, lock):
    held.update_record(attempt=1, run_id=slug)
if stage != "lock-only":
    base = git.resolve_commit(repo, "HEAD")
    workspace = git.RunWorktree(repo=repo, paths=paths).create(base_sha=base, attempt=1)
    if stage != "unrecorded":
        RunStore.open(paths.database).begin_attempt(
            run_id=slug, slug=slug, batch_id="b", attempt=1, base_sha=base, branch=paths.branch,
            host=socket.gethostname(), pid=os.getpid(), started_at=datetime.now(UTC),
        )
    (workspace / "unsaved.txt").write_text(slug + "\n")
    quiet = dict(stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    child = subprocess.Popen(["sleep", marker], cwd=workspace, start_new_session=True, **quiet)
    lock.update_record(child_pgid=child.pid)
print("ready", flush=True)
if stage == "live":
    sys.stdin.read()
else:
    os.kill(os.getpid(), signal.SIGKILL)
"""


def dead_holder(repo: Path, runs_dir: Path, slug: str, marker: str, stage: str = "recorded") -> None:
    done = subprocess.run(
        [sys.executable, "-c", HOLDER, str(repo), str(runs_dir), slug, marker, stage],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert done.stdout.strip() == "ready"


def statuses(runs_dir: Path, slug: str) -> list[tuple[int, Outcome]]:
    with RunStore.open(RunPaths(runs_dir, slug).database, create=False) as store:
        return [(a.attempt, a.outcome) for a in store.attempts()]


def test_nothing_to_list_or_recover(repo: Path, runs_dir: Path) -> None:
    assert list_worktrees(repo=repo, runs_dir=runs_dir) == []
    report = recover(repo=repo, runs_dir=runs_dir)
    assert report.recovered == report.held == report.failed == ()
    assert cleanup(repo=repo, runs_dir=runs_dir).removed == ()


def test_an_orphan_is_listed_then_recovered(repo: Path, runs_dir: Path, markers: list[str]) -> None:
    markers.append("93.101")
    dead_holder(repo, runs_dir, "orph", "93.101")
    (tree,) = list_worktrees(repo=repo, runs_dir=runs_dir)
    assert (tree.state, tree.run_id, tree.attempt, tree.status) == ("orphaned", "orph", 1, Outcome.RUNNING)
    assert tree.is_dirty is True
    assert tree.holder is None
    assert processes_with("sleep 93.101")

    report = recover(repo=repo, runs_dir=runs_dir)
    (done,) = report.recovered
    assert (done.run_id, done.attempt, done.outcome, done.abandoned) == ("orph", 1, Outcome.ABANDONED, (1,))
    assert done.killed_pgid is not None
    assert git(repo, "show", "parallel-runs/orph:unsaved.txt") == "orph"
    assert "abandoned" in git(repo, "log", "-1", "--format=%B", "parallel-runs/orph")
    assert statuses(runs_dir, "orph") == [(1, Outcome.ABANDONED)]
    wait_for(lambda: not processes_with("sleep 93.101"), timeout=5, what="the orphan's command to die")
    assert list_worktrees(repo=repo, runs_dir=runs_dir) == []
    paths = RunPaths(runs_dir, "orph")
    assert RunLock("orph", runs_dir=runs_dir).record() is None
    assert WorktreeLease(paths.workspace, runs_dir=runs_dir).record() is None
    assert recover(repo=repo, runs_dir=runs_dir) == type(report)((), (), (), (), ())


def test_recover_only_slugs_leaves_other_orphans(repo: Path, runs_dir: Path, markers: list[str]) -> None:
    markers.extend(["93.201", "93.202"])
    dead_holder(repo, runs_dir, "mine", "93.201")
    dead_holder(repo, runs_dir, "other", "93.202")
    report = recover(repo=repo, runs_dir=runs_dir, only_slugs={"mine"})
    assert [r.slug for r in report.recovered] == ["mine"]
    states = {t.slug: t.state for t in list_worktrees(repo=repo, runs_dir=runs_dir)}
    assert states == {"other": WorktreeState.ORPHANED}
    assert processes_with("sleep 93.202")


def test_an_unrecorded_attempt_and_a_bare_lock_are_recovered(
    repo: Path, runs_dir: Path, markers: list[str]
) -> None:
    markers.append("93.301")
    dead_holder(repo, runs_dir, "early", "93.301", stage="unrecorded")
    dead_holder(repo, runs_dir, "bare", "-", stage="lock-only")
    (tree,) = list_worktrees(repo=repo, runs_dir=runs_dir)
    assert (tree.slug, tree.state, tree.attempt) == ("early", WorktreeState.ORPHANED, 1)
    report = recover(repo=repo, runs_dir=runs_dir)
    assert [r.slug for r in report.recovered] == ["early"]
    assert report.reclaimed == ("bare",)
    assert git(repo, "show", "parallel-runs/early:unsaved.txt") == "early"
    assert "early attempt 1 abandoned" in git(repo, "log", "-1", "--format=%s", "parallel-runs/early")
    assert RunLock("bare", runs_dir=runs_dir).record() is None
    assert list_worktrees(repo=repo, runs_dir=runs_dir) == []


def test_a_live_holder_is_left_alone(repo: Path, runs_dir: Path, markers: list[str]) -> None:
    markers.append("93.401")
    with live_python(HOLDER, str(repo), str(runs_dir), "live", "93.401", "live", ready="ready") as live:
        (tree,) = list_worktrees(repo=repo, runs_dir=runs_dir)
        assert tree.state is WorktreeState.RUNNING
        assert tree.holder is not None
        assert tree.holder.pid == live.pid
        cleaned = cleanup(repo=repo, runs_dir=runs_dir)
        assert cleaned.removed == ()
        assert "running" in cleaned.skipped[0].reason
        recovered = recover(repo=repo, runs_dir=runs_dir)
        assert recovered.recovered == ()
        assert f"pid {live.pid}" in recovered.held[0].reason
        assert (RunPaths(runs_dir, "live").workspace / "unsaved.txt").is_file()
        assert statuses(runs_dir, "live") == [(1, Outcome.RUNNING)]


def test_cleanup_skips_orphans_and_unknown_directories(
    repo: Path, runs_dir: Path, markers: list[str]
) -> None:
    markers.append("93.501")
    dead_holder(repo, runs_dir, "orph", "93.501")
    stray = runs_dir / "workspaces" / "stray"
    stray.mkdir()
    (stray / "keep.txt").write_text("not ours to delete\n")
    states = {t.slug: t.state for t in list_worktrees(repo=repo, runs_dir=runs_dir)}
    assert states == {"orph": WorktreeState.ORPHANED, "stray": WorktreeState.STALE}

    report = cleanup(repo=repo, runs_dir=runs_dir)
    assert report.removed == ()
    reasons = {s.slug: s.reason for s in report.skipped}
    assert "recover" in reasons["orph"]
    assert "recover" in reasons["stray"]
    assert (RunPaths(runs_dir, "orph").workspace / "unsaved.txt").is_file()

    recovered = recover(repo=repo, runs_dir=runs_dir)
    assert [r.slug for r in recovered.recovered] == ["orph"]
    assert "not a git worktree" in recovered.failed[0].reason
    assert (stray / "keep.txt").is_file()


def test_a_vanished_kept_worktree_is_pruned(repo: Path, runs_dir: Path) -> None:
    done = cli(
        "run",
        "--run-ids",
        "gone",
        "--keep-worktrees",
        "--runs-dir",
        str(runs_dir),
        "--command",
        "true",
        cwd=repo,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (tree,) = list_worktrees(repo=repo, runs_dir=runs_dir)
    assert (tree.state, tree.is_dirty, tree.status) == (WorktreeState.FINISHED, False, Outcome.SUCCEEDED)
    assert recover(repo=repo, runs_dir=runs_dir).pruned == ()  # a finished worktree is cleanup's
    shutil.rmtree(tree.path)
    (tree,) = list_worktrees(repo=repo, runs_dir=runs_dir)
    assert tree.state is WorktreeState.STALE
    assert recover(repo=repo, runs_dir=runs_dir).pruned == ("gone",)
    assert list_worktrees(repo=repo, runs_dir=runs_dir) == []
    assert gitlib.list_managed_worktrees(repo, runs_dir) == []
