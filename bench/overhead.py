"""Overhead of a run vs bare git: `make bench`.

32 no-op runs with 1 worker (`parallel-runs run ... --command true`, in process) against the same
number of bare `git worktree add --detach` / `git worktree remove --force` pairs, on a generated
~700-file repository on tmpfs (or a clone of --repo PATH). Rounds alternate between the two so
machine noise hits both; the median round is reported with the ratio.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from parallel_runs.batch import BatchControl
from parallel_runs.batch import run as run_batch
from parallel_runs.config import build_batch_to_queue
from parallel_runs.git import run_git

GOAL = 1.25


def git(repo: Path, *args: str) -> str:
    """Run git in repo, return stdout."""
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout


def generate_repository(root: Path, files: int) -> Path:
    """A repository of `files` small source files in 35 packages, one commit."""
    repo = root / "repo"
    for i in range(files):
        path = repo / f"pkg{i % 35:02d}" / f"module_{i:04d}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(f"def f_{i}_{j}(x):\n    return x + {j}\n\n" for j in range(40)))
    git(repo.parent, "init", "--quiet", "--initial-branch=main", str(repo))
    git(repo, "add", "-A")
    git(
        repo,
        "-c",
        "user.name=bench",
        "-c",
        "user.email=bench@example.com",
        "commit",
        "--quiet",
        "-m",
        "bench",
    )
    return repo


def bare_git_round(repo: Path, scratch: Path, runs: int) -> float:
    """`runs` sequential worktree add/remove pairs."""
    started = time.perf_counter()
    for i in range(runs):
        path = scratch / f"bare-{i:02d}"
        git(repo, "worktree", "add", "--quiet", "--detach", str(path), "HEAD")
        git(repo, "worktree", "remove", "--force", str(path))
    return time.perf_counter() - started


def timed_batch(
    repo: Path,
    runs_dir: Path,
    *,
    batch_id: str,
    run_ids: str,
    workers: int,
    command: str,
    flags: dict[str, object] | None = None,
) -> float:
    """Seconds one batch takes through the library (the benches' "ours"); exits if it fails.
    `flags`: more of `run`'s options, by dest (bench/reuse.py)."""
    batch = build_batch_to_queue(
        flags={
            "run_ids": [run_ids],
            "workers": str(workers),
            "command": command,
            "runs_dir": str(runs_dir),
            "batch_id": batch_id,
            **(flags or {}),
        },
        environ=dict(os.environ),
        cwd=repo,
    )
    started = time.perf_counter()
    result = run_batch(batch.request, batch.machine, BatchControl(grace=batch.request.grace))
    elapsed = time.perf_counter() - started
    if result.exit_code != 0:
        raise SystemExit(f"bench batch {batch_id} failed with exit {result.exit_code}: {result.ends[:1]}")
    return elapsed


def parallel_runs_round(repo: Path, runs_dir: Path, round_no: int, runs: int) -> float:
    """`runs` no-op runs with one worker through the library."""
    run_ids = f"bench-{{01..{runs:02d}}}"
    batch_id = f"bench-{round_no}"
    return timed_batch(repo, runs_dir, batch_id=batch_id, run_ids=run_ids, workers=1, command="true")


class _TimedGit:
    """Stands in for run_git's Git(): times each command by its git subcommand."""

    def __init__(self, git: Any) -> None:
        self.git, self.spent, self.lock = git, defaultdict[str, float](float), threading.Lock()

    def execute(self, argv: list[str], **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return self.git.execute(argv, **kwargs)
        finally:
            with self.lock:  # argv is git -C DIR [-c ...] SUBCOMMAND ...
                self.spent[run_git._name(tuple(argv[3:]))] += time.perf_counter() - started


@contextmanager
def git_seconds_by_subcommand() -> Iterator[dict[str, float]]:
    """Seconds spent in each git subcommand that parallel-runs starts while the block runs."""
    real = run_git._GIT
    timed = _TimedGit(real)
    run_git._GIT = timed  # type: ignore[assignment]
    try:
        yield timed.spent
    finally:
        run_git._GIT = real


def print_breakdown(spent: dict[str, float], total: float, runs: int) -> None:
    """Where a run's time went: git by subcommand, and the rest (Python, SQLite, locks, the command)."""
    per_run = {name: seconds / runs * 1000 for name, seconds in sorted(spent.items(), key=lambda i: -i[1])}
    other = total / runs * 1000 - sum(per_run.values())
    listed = ", ".join(f"git {name} {ms:.1f}" for name, ms in per_run.items() if ms >= 0.5)
    print(f"where a run's time went (last round, ms/run): {listed}, everything else {other:.1f}")


def reset(repo: Path, runs_dir: Path) -> None:
    """Forget earlier rounds so every round does the same work (fresh branches, fresh stores)."""
    shutil.rmtree(runs_dir, ignore_errors=True)
    refs = git(
        repo, "for-each-ref", "--format=%(refname)", "refs/heads/parallel-runs/", "refs/parallel-runs/"
    )
    for ref in refs.split():
        git(repo, "update-ref", "-d", ref)


def main() -> int:
    """Measure, print both times and the ratio."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repo", type=Path, help="clone this repository instead of generating one")
    parser.add_argument("--files", type=int, default=700, help="files in the generated repository")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds; the median is reported")
    parser.add_argument("--runs", type=int, default=32, help="runs per round")
    args = parser.parse_args()
    shm = Path("/dev/shm")
    root = Path(tempfile.mkdtemp(prefix="pr-bench-", dir=shm if shm.is_dir() else None))
    try:
        if args.repo:
            git(root, "clone", "--quiet", str(args.repo.resolve()), str(root / "repo"))
            repo = root / "repo"
        else:
            repo = generate_repository(root, args.files)
        files = len(git(repo, "ls-files").splitlines())
        print(f"repository: {files} files at {repo}; {args.runs} runs, 1 worker, {args.rounds} rounds")
        runs_dir, scratch = root / "runs", root / "scratch"
        scratch.mkdir()
        bare, ours = [], []
        for round_no in range(args.rounds):
            bare.append(bare_git_round(repo, scratch, args.runs))
            reset(repo, runs_dir)
            with git_seconds_by_subcommand() as spent:
                ours.append(parallel_runs_round(repo, runs_dir, round_no, args.runs))
            print(f"  round {round_no + 1}: bare git {bare[-1]:.2f}s, parallel-runs {ours[-1]:.2f}s")
        b, o = statistics.median(bare), statistics.median(ours)
        ratio = o / b
        print(f"bare git worktree add/remove: {b:.2f}s ({b / args.runs * 1000:.0f} ms/run)")
        print(f"parallel-runs run:            {o:.2f}s ({o / args.runs * 1000:.0f} ms/run)")
        print(f"ratio: {ratio:.2f}x (goal <= {GOAL}x) {'OK' if ratio <= GOAL else 'ABOVE GOAL'}")
        print_breakdown(spent, ours[-1], args.runs)
        return 0
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
