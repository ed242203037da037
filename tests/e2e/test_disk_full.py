"""A full disk (issue #9): the run is recorded `failed` (no_space), nothing partial is left, later runs work.

Both disks are real tmpfs mounts of a few MiB (the tests run as root, as CI does). The CLI runs as
a real process here: in-process, a git process whose output could not be written was left unwaited
(its Popen warned when collected, failing whichever test came next on that worker).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from tests.helpers import git, run_cli


def report(repo: Path, runs_dir: Path) -> dict[str, dict[str, object]]:
    done = run_cli("report", "--format", "json", "--runs-dir", str(runs_dir), cwd=repo)
    assert done.returncode == 0, done.stderr
    return {row["run_id"]: row for row in json.loads(done.stdout)["runs"]}


def test_a_full_runs_dir_fails_the_run_and_leaves_nothing_behind(
    repo: Path, small_disk: Callable[[str, str], Path]
) -> None:
    runs_dir = small_disk("runs", "5m")
    big = "head -c 3500000 /dev/urandom > big.bin"
    done = run_cli("run", "--runs-dir", str(runs_dir), "--run-ids", "big", "--command", big, cwd=repo)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    row = report(repo, runs_dir)["big"]
    assert row["status"] == "failed"
    assert str(row["error"]).startswith("no_space: ")
    assert not [path for path in runs_dir.rglob("*") if "partial" in path.name]
    assert "big.bin" in git(repo, "ls-tree", "--name-only", "parallel-runs/big")  # nothing lost
    # The commit says what the store says (issue #16: it said "attempt 1 succeeded").
    assert git(repo, "log", "-1", "--format=%s", "parallel-runs/big") == "parallel-runs: big attempt 1 failed"
    assert "Parallel-Runs-Outcome: failed" in git(repo, "log", "-1", "--format=%b", "parallel-runs/big")
    assert "None file(s)" not in done.stdout  # the event line said "None file(s) changed"
    for args in (("recover",), ("run", "--run-ids", "small", "--command", "echo hi > s.txt")):
        later = run_cli(*args, "--runs-dir", str(runs_dir), cwd=repo)
        assert later.returncode == 0, later.stdout + later.stderr


def test_a_full_repository_disk_records_the_attempt_and_keeps_the_worktree(
    make_repo: Callable[..., Path], small_disk: Callable[[str, str], Path], tmp_path: Path
) -> None:
    disk = small_disk("repo-disk", "6m")
    source = make_repo("source")
    repo = disk / "repo"
    git(tmp_path, "clone", "--quiet", str(source), str(repo))
    runs_dir = tmp_path / "runs"  # on the roomy disk: only the repository's objects have no room
    fill = "for f in a b c; do head -c 2500000 /dev/urandom > $f.bin; done"
    done = run_cli("run", "--runs-dir", str(runs_dir), "--run-ids", "fill", "--command", fill, cwd=repo)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    row = report(repo, runs_dir)["fill"]
    assert (row["status"], str(row["error"])[:9]) == ("failed", "no_space:")
    assert (runs_dir / "workspaces" / "fill" / "a.bin").is_file()  # unsaved: the worktree stays
