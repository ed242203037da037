"""P2, the pool: 64 runs of `sleep 0.5` with 16 workers, wall time against the ideal and against xargs.

The ideal is 64 x 0.5 s / 16 = 2 s. The second baseline, measured in the same run, is the floor of
starting those 64 processes 16 at a time with no worktrees at all (`xargs -P 16`). The repository
(a generated ~700-file one) is on tmpfs, as in bench/overhead.py.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from overhead import generate_repository, git, reset, timed_batch  # type: ignore[import-not-found]

GOAL = 1.25


def xargs_round(runs: int, workers: int, seconds: float) -> float:
    """`runs` sleeps, `workers` at a time, through xargs: the process-spawning floor."""
    started = time.perf_counter()
    subprocess.run(
        ["xargs", "-P", str(workers), "-n", "1", "sleep"],
        input="\n".join([str(seconds)] * runs),
        text=True,
        check=True,
    )
    return time.perf_counter() - started


def bare_git_round(repo: Path, scratch: Path, *, runs: int, workers: int, seconds: float) -> float:
    """The same sleeps, each in a bare `git worktree add --detach` then `remove --force`: git's own floor."""

    def retried(*args: str) -> None:
        for _ in range(20):  # concurrent worktree commands meet on git's lock files: try again
            if subprocess.run(["git", *args], cwd=repo, capture_output=True, check=False).returncode == 0:
                return
            time.sleep(0.01)
        git(repo, *args)

    def one(i: int) -> None:
        path = scratch / f"bare-{i:03d}"
        retried("worktree", "add", "--quiet", "--detach", str(path), "HEAD")
        subprocess.run(["sleep", str(seconds)], check=True)
        retried("worktree", "remove", "--force", str(path))

    started = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(one, range(runs)))
    return time.perf_counter() - started


def pool_round(
    repo: Path, runs_dir: Path, round_no: int, *, runs: int, workers: int, seconds: float
) -> float:
    """The same sleeps as a batch of runs, each in its own worktree."""
    run_ids, command = f"pool-{{001..{runs:03d}}}", f"sleep {seconds}"
    return timed_batch(
        repo, runs_dir, batch_id=f"pool-{round_no}", run_ids=run_ids, workers=workers, command=command
    )


def measure(rounds: int = 3, runs: int = 64, workers: int = 16, seconds: float = 0.5) -> dict[str, float]:
    """Median wall times of both, and the ideal."""
    shm = Path("/dev/shm")
    root = Path(tempfile.mkdtemp(prefix="pr-pool-", dir=shm if shm.is_dir() else None))
    try:
        repo, runs_dir, scratch = generate_repository(root, 700), root / "runs", root / "scratch"
        scratch.mkdir()
        ours, floor, bare = [], [], []
        for round_no in range(rounds):
            floor.append(xargs_round(runs, workers, seconds))
            bare.append(bare_git_round(repo, scratch, runs=runs, workers=workers, seconds=seconds))
            reset(repo, runs_dir)
            ours.append(pool_round(repo, runs_dir, round_no, runs=runs, workers=workers, seconds=seconds))
        return {
            "ideal": runs * seconds / workers,
            "xargs": statistics.median(floor),
            "bare_git": statistics.median(bare),
            "ours": statistics.median(ours),
        }
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> int:
    """Print the figures and the ratios."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--runs", type=int, default=64)
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=0.5, help="each run's sleep")
    args = parser.parse_args()
    got = measure(args.rounds, args.runs, args.workers, args.seconds)
    ratio = got["ours"] / got["ideal"]
    print(
        f"ideal {got['ideal']:.2f}s, xargs -P {args.workers} {got['xargs']:.2f}s, "
        f"parallel-runs {got['ours']:.2f}s"
    )
    print(f"bare git worktree add + sleep + remove, {args.workers} at a time: {got['bare_git']:.2f}s")
    print(
        f"ratio to ideal: {ratio:.2f}x (goal <= {GOAL}x), to xargs: {got['ours'] / got['xargs']:.2f}x, "
        f"to bare git: {got['ours'] / got['bare_git']:.2f}x"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
