"""--reuse-worktrees (issue #22 item 2): a run's worktree cost with reuse against a fresh worktree.

1. The fixed cost of a run's worktree, on a generated 30,000-file repository, on tmpfs and on ext4
   (the disk under /tmp, or --ext4-dir): a fresh worktree's `create` + `remove` (what every run
   pays without reuse) against a reused one's switch to the run + reset (`git/reuse.py`), each run
   changing a file and adding one, saved in between (not timed: both pay it alike). The first
   run of a reused worktree is a fresh one; the figure is the steady state, the mean over all
   runs (first included) is printed too. Rounds alternate; the median round is reported.
2. A 5 s `--setup-command` that writes `node_modules` (ignored), 8 runs on 2 workers with
   `--keep-ignored node_modules`: how many runs paid the setup (counted from the runs' own logs),
   and the batch's time against the same batch without reuse.
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
from pathlib import Path

from overhead import (  # type: ignore[import-not-found]
    generate_repository,
    git,
    reset,
    seconds_by_step,
    timed_batch,
)
from parallel_runs import git as gitlib
from parallel_runs.core.layout import RunPaths

GOAL = 0.25
SETUP = "sleep {seconds} && mkdir -p node_modules && touch node_modules/x"


def worktree_round(repo: Path, runs_dir: Path, *, runs: int, reuse: bool) -> list[float]:
    """Seconds of each run's worktree work (create + remove, or switch + reset)."""
    base = gitlib.resolve_commit(repo, "HEAD")
    slot = gitlib.ReuseSlot.open(repo, runs_dir, name="bench", keep=()) if reuse else None
    spent = []
    try:
        for n in range(runs):
            paths = RunPaths(runs_dir, f"run-{n:03d}")
            tree = (
                gitlib.ReusedWorktree(repo=repo, paths=paths, settings=None, slot=slot)
                if slot
                else gitlib.RunWorktree(repo=repo, paths=paths)
            )
            started = time.perf_counter()
            workspace = tree.create(base_sha=base, attempt=1)
            took = time.perf_counter() - started
            (workspace / "pkg00" / "module_0000.py").write_text(f"changed by run {n}\n")
            (workspace / "added.txt").write_text(f"run {n}\n")
            (workspace / "debug.log").write_text("an ignored file\n")
            tree.save_changes(run_id=paths.slug, attempt=1, outcome="succeeded", base_sha=base)
            started = time.perf_counter()
            tree.remove(just_saved=True)
            spent.append(took + time.perf_counter() - started)
    finally:
        if slot:
            slot.close()
    return spent


def worktree_figures(root: Path, *, files: int, runs: int, rounds: int) -> tuple[float, float, float]:
    """(fresh ms/run, reused ms/run in steady state, reused ms/run over all runs), medians of rounds."""
    repo = generate_repository(root, files)
    (repo / ".gitignore").write_text("*.log\nnode_modules\n")
    git(repo, "add", ".gitignore")
    git(repo, "-c", "user.name=bench", "-c", "user.email=bench@example.com", "commit", "-q", "-m", "ignores")
    runs_dir = root / "runs"
    fresh, steady, overall = [], [], []
    for round_no in range(rounds):
        reset(repo, runs_dir)
        fresh.append(statistics.mean(worktree_round(repo, runs_dir, runs=runs, reuse=False)))
        reset(repo, runs_dir)
        with seconds_by_step() as timed:
            reused = worktree_round(repo, runs_dir, runs=runs, reuse=True)
        steady.append(statistics.mean(reused[1:]))
        overall.append(statistics.mean(reused))
        print(
            f"  round {round_no + 1}: fresh {fresh[-1] * 1000:.0f} ms/run, reused {steady[-1] * 1000:.0f}"
            f" ms/run (first run included: {overall[-1] * 1000:.0f}); load {os.getloadavg()[0]:.1f}",
            flush=True,
        )
    where = ", ".join(
        f"{name} {seconds / runs * 1000:.0f}"
        for name, seconds in sorted(timed.spent.items(), key=lambda i: -i[1])
    )
    print(f"  git in a reused round, ms/run (the save included): {where}")
    return tuple(statistics.median(v) * 1000 for v in (fresh, steady, overall))  # type: ignore[return-value]


def setup_figures(root: Path, *, runs: int, workers: int, seconds: float) -> None:
    """The 5 s setup: how many runs pay it with reuse and --keep-ignored, and both batches' times."""
    repo = generate_repository(root, 200)
    (repo / ".gitignore").write_text("node_modules\n")
    git(repo, "add", ".gitignore")
    git(repo, "-c", "user.name=bench", "-c", "user.email=bench@example.com", "commit", "-q", "-m", "ignores")
    ids, setup = f"setup-{{01..{runs:02d}}}", SETUP.format(seconds=seconds)
    times = {}
    for name, flags in (
        ("fresh", {"setup_command": setup}),
        ("reuse", {"setup_command": setup, "reuse_worktrees": True, "keep_ignored": ["node_modules"]}),
    ):
        runs_dir = root / f"runs-{name}"
        check = "test -e node_modules/x"
        batch = {"batch_id": f"setup-{name}", "run_ids": ids, "workers": workers, "command": check}
        times[name] = timed_batch(repo, runs_dir, **batch, flags=flags)
        logs = [path.read_text() for path in runs_dir.glob("setup-*/run.log")]
        setups = sum("--- parallel-runs: setup ·" in log for log in logs)
        print(f"{name}: {runs} runs on {workers} workers paid the setup {setups} times, {times[name]:.1f}s")
    print(f"setup batch with reuse / without: {times['reuse'] / times['fresh']:.2f}x")


def main() -> int:
    """Measure on tmpfs and on ext4, then the setup figure; print each against its baseline."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--files", type=int, default=30_000, help="files in the generated repository")
    parser.add_argument("--runs", type=int, default=8, help="runs per round")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds; the median is reported")
    parser.add_argument("--ext4-dir", type=Path, default=Path("/tmp"), help="a directory on the ext4 disk")
    parser.add_argument("--skip-setup", action="store_true", help="only the worktree figures")
    parser.add_argument("--setup-seconds", type=float, default=5.0, help="how long the setup command takes")
    args = parser.parse_args()
    disks = {"tmpfs": Path("/dev/shm"), "ext4": args.ext4_dir}
    print(f"{args.files} files, {args.runs} runs per round, {args.rounds} rounds; load {os.getloadavg()}")
    for disk, where in disks.items():
        stat = ["stat", "-f", "-c", "%T", str(where)]
        kind = subprocess.run(stat, capture_output=True, text=True, check=True).stdout.strip()
        root = Path(tempfile.mkdtemp(prefix="pr-bench-reuse-", dir=where))
        try:
            print(f"{disk} ({where}: {kind}):", flush=True)
            fresh, steady, overall = worktree_figures(
                root, files=args.files, runs=args.runs, rounds=args.rounds
            )
            ratio = steady / fresh
            print(f"{disk} fresh worktree create+remove: {fresh:.0f} ms/run")
            first = f"{overall:.0f} with its first, fresh run"
            print(f"{disk} reused worktree switch+reset: {steady:.0f} ms/run ({first})")
            verdict = "OK" if ratio <= GOAL else "ABOVE GOAL"
            amortized = f"first run included {overall / fresh:.3f}x"
            print(f"{disk} reuse ratio: {ratio:.3f}x ({amortized}; goal <= {GOAL}x) {verdict}")
        finally:
            shutil.rmtree(root, ignore_errors=True)
    if not args.skip_setup:
        root = Path(tempfile.mkdtemp(prefix="pr-bench-setup-", dir=disks["tmpfs"]))
        try:
            setup_figures(root, runs=8, workers=2, seconds=args.setup_seconds)
        finally:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
