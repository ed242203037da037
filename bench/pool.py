"""P2, the pool: 64 runs of `sleep 0.5` with 16 workers, wall time against git's own floor.

Three baselines, measured in the same run: the ideal (64 x 0.5 s / 16 = 2 s); starting those 64
processes 16 at a time with no worktrees at all (`xargs -P 16`); and git's own floor at the same
concurrency, what git must do for each run (as in bench/overhead.py): `worktree add -b`, the sleep,
`add -A` + `commit --allow-empty`, `worktree remove --force`, 16 at a time. The goal is against
that floor: on 2 cores git's own work cannot hide behind the sleeps. The repository (a generated
~700-file one) is on tmpfs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from overhead import floor_run, generate_repository, git, reset, timed_batch  # type: ignore[import-not-found]

GOAL = 1.10  # ÷ git's own floor at the same concurrency


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


def _retried(cwd: Path, *args: str) -> None:
    """git, again while it meets the lock files of concurrent worktree commands."""
    for _ in range(20):
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
        if done.returncode == 0:
            return
        if "-b" in args:  # a worktree add that failed half-way may have made its branch
            subprocess.run(["git", "branch", "-D", args[-3]], cwd=cwd, capture_output=True, check=False)
        time.sleep(0.01)
    git(cwd, *args)


def bare_git_round(repo: Path, scratch: Path, *, runs: int, workers: int, seconds: float) -> float:
    """The same sleeps, each between what git must do for a run (overhead.floor_run): git's own floor."""

    def one(i: int) -> None:
        floor_run(repo, scratch / f"bare-{i:03d}", f"bench-floor/{i:03d}", sleep=seconds, run=_retried)

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
            reset(repo, runs_dir)
            bare.append(bare_git_round(repo, scratch, runs=runs, workers=workers, seconds=seconds))
            ours.append(pool_round(repo, runs_dir, round_no, runs=runs, workers=workers, seconds=seconds))
        return {
            "ideal": runs * seconds / workers,
            "xargs": statistics.median(floor),
            "bare_git": statistics.median(bare),
            "ours": statistics.median(ours),
            # each round's own ratio, then their median: the load swings between rounds more than within one
            "to_floor": statistics.median(ours[i] / bare[i] for i in range(rounds)),
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
    ratio = got["to_floor"]
    print(
        f"ideal {got['ideal']:.2f}s, xargs -P {args.workers} {got['xargs']:.2f}s, "
        f"parallel-runs {got['ours']:.2f}s"
    )
    print(
        f"git's floor (worktree add -b + sleep + add -A + commit + remove), {args.workers} at a time: "
        f"{got['bare_git']:.2f}s"
    )
    print(
        f"ratio to ideal: {got['ours'] / got['ideal']:.2f}x, to xargs: {got['ours'] / got['xargs']:.2f}x, "
        f"to git's floor: {ratio:.2f}x (goal <= {GOAL}x) {'OK' if ratio <= GOAL else 'ABOVE GOAL'}"
    )
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
