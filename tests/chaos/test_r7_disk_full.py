"""R7: a disk fills up while a run is saved: the runs dir's, or the repository's.

Real tmpfs mounts of a few MiB (the suite runs as root, as CI does). Trials alternate:
- runs dir full: the run's files fit in its worktree, but not its changes.patch beside them;
- repository full: git cannot store the run's objects; then the disk grows (space is back).
Each time: exit 1 with no traceback, the attempt recorded `failed` with an error starting
`no_space:`, no partial file, nothing corrupted (`git fsck`, SQLite integrity, result.json),
every file the run wrote on a reachable commit (once space is back), and later runs fine once
there is space again.
"""

from __future__ import annotations

import json
import random
import sqlite3
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.chaos.conftest import Figures, count
from tests.chaos.support import fsck_problems, lost_files, orphaned_worktrees, writer_command
from tests.helpers import git, run_cli

pytestmark = pytest.mark.chaos


def _rows(repo: Path, runs_dir: Path) -> dict[str, dict[str, object]]:
    done = run_cli("report", "--format", "json", "--runs-dir", str(runs_dir), cwd=repo)
    assert done.returncode == 0, done.stderr
    return {row["run_id"]: row for row in json.loads(done.stdout)["runs"]}


def _corruption(repo: Path, runs_dir: Path) -> list[str]:
    """What is broken: git objects, SQLite stores, result.json files, partial files left behind."""
    problems = fsck_problems(repo)
    for database in runs_dir.glob("*/*.db"):
        with sqlite3.connect(database) as connection:
            if (verdict := connection.execute("pragma integrity_check").fetchone()[0]) != "ok":
                problems.append(f"{database}: {verdict}")
    for result in runs_dir.glob("*/result.json"):
        try:
            json.loads(result.read_text())
        except ValueError as exc:
            problems.append(f"{result}: {exc}")
    problems += [str(path) for path in runs_dir.rglob("*") if "partial" in path.name]
    return problems


def _fill(repo: Path, runs_dir: Path, run_id: str, command: str) -> tuple[list[str], dict[str, object]]:
    """Run the filling run: what went wrong with its exit and output, and its report row."""
    done = run_cli("run", "--runs-dir", str(runs_dir), "--run-ids", run_id, "--command", command, cwd=repo)
    said = done.stdout + done.stderr
    wrong = [f"exit {done.returncode}: {said[-300:]}"] if done.returncode != 1 else []
    wrong += (
        ["a traceback or an internal error on screen"] if "Traceback" in said or "internal" in said else []
    )
    row = _rows(repo, runs_dir).get(run_id, {})
    if (row.get("status"), str(row.get("error"))[:9]) != ("failed", "no_space:"):
        wrong.append(f"recorded {row.get('status')}: {row.get('error')}")
    return wrong, row


def _later_runs_work(repo: Path, runs_dir: Path, run_id: str) -> list[str]:
    wrong = []
    for args in (("recover",), ("run", "--run-ids", run_id, "--command", "echo later > later.txt")):
        later = run_cli(*args, "--runs-dir", str(runs_dir), cwd=repo)
        if later.returncode != 0:
            wrong.append(f"{args[0]}: exit {later.returncode}: {(later.stdout + later.stderr)[-300:]}")
    return wrong


def _runs_dir_trial(
    make_repo: Callable[..., Path], disk: Path, manifests: Path, trial: int
) -> tuple[list[str], bool]:
    """Fill the runs dir; (what went wrong, whether a run on the still full disk failed)."""
    repo, runs_dir = make_repo(f"repo-{trial}"), disk / "runs"
    size = random.randint(3_000_000, 4_200_000)  # fits in the worktree, not twice (with its patch)
    wrong, _ = _fill(repo, runs_dir, "big", writer_command(manifests, files=20, binary=size))
    wrong += _corruption(repo, runs_dir)
    # The patch, written again once the worktree is gone, may fill the disk anew: a run now may
    # fail (even to record its attempt: recover settles that once there is space), but cleanly.
    meanwhile = run_cli(
        "run", "--runs-dir", str(runs_dir), "--run-ids", "meanwhile", "--command", "true", cwd=repo
    )
    said = meanwhile.stdout + meanwhile.stderr
    if meanwhile.returncode not in (0, 1) or "Traceback" in said or "internal error" in said:
        wrong.append(f"a run on the still full disk: exit {meanwhile.returncode}: {said[-300:]}")
    subprocess.run(["mount", "-o", "remount,size=64m", str(disk)], check=True)  # space is back
    wrong += _later_runs_work(repo, runs_dir, "small") + _corruption(repo, runs_dir)
    if any(row.get("status") == "running" for row in _rows(repo, runs_dir).values()):
        wrong.append("an attempt is still recorded running after recover")
    return wrong + orphaned_worktrees(repo, runs_dir), meanwhile.returncode != 0


def _repo_disk_trial(
    make_repo: Callable[..., Path], disk: Path, tmp_path: Path, manifests: Path, trial: int
) -> list[str]:
    repo, runs_dir = disk / "repo", tmp_path / f"runs-{trial}"
    git(tmp_path, "clone", "--quiet", str(make_repo(f"source-{trial}")), str(repo))
    command = writer_command(manifests, files=20, binary=random.randint(2_200_000, 2_800_000), binaries=3)
    wrong, _ = _fill(repo, runs_dir, "fill", command)
    if not (runs_dir / "workspaces" / "fill").is_dir():
        wrong.append("the unsaved worktree was removed")
    subprocess.run(["mount", "-o", "remount,size=64m", str(disk)], check=True)  # space is back
    # The retry saves the kept worktree first (as `cleanup` would), then runs again.
    wrong += _later_runs_work(repo, runs_dir, "fill") + _corruption(repo, runs_dir)
    return wrong + orphaned_worktrees(repo, runs_dir)


@pytest.mark.scenario("R7 disk full")
@pytest.mark.timeout(1800)
def test_r7_a_full_disk_while_saving_is_recorded_and_loses_nothing(
    make_repo: Callable[..., Path], small_disk: Callable[[str, str], Path], tmp_path: Path, figures: Figures
) -> None:
    trials, manifests = count(full=10, quick=2), tmp_path / "manifests"
    manifests.mkdir()
    problems: list[str] = []
    repos: list[Path] = []
    refused = 0  # runs started while the runs dir was still full, failing cleanly
    for trial in range(trials):
        if trial % 2 == 0:
            wrong, failed = _runs_dir_trial(make_repo, small_disk(f"disk-{trial}", "5m"), manifests, trial)
            refused += failed
            repos.append(tmp_path / f"repo-{trial}")
        else:
            disk = small_disk(f"disk-{trial}", "6m")
            wrong = _repo_disk_trial(make_repo, disk, tmp_path, manifests, trial)
            repos.append(disk / "repo")
        problems += [f"trial {trial}: {problem}" for problem in wrong]
        lost = lost_files(manifests, *repos)
        figures.trials, figures.lost_changes = trial + 1, len(lost)
        figures.faults = (
            f"{trial + 1} disks filled ({(trial + 2) // 2} runs dirs, {(trial + 1) // 2} repositories)"
        )
        figures.notes = (
            f"{len(problems)} problems (exit, record, corruption, later runs); {refused} runs "
            "on a runs dir still full failed cleanly"
        )
        if problems or lost:
            break
    assert not problems, problems[:5]
    assert figures.lost_changes == 0, lost_files(manifests, *repos)[:5]
