"""P1, a run's fixed cost against the floor of what git must do for it: `make bench`.

32 no-op runs with 1 worker (`parallel-runs run ... --command true`, in process) against the honest
floor: bare git doing what the product must do for each run, i.e. `git worktree add -b <branch>`,
`git add -A` + `git commit --allow-empty` in it, and `git worktree remove --force`. The old baseline,
bare `git worktree add --detach` + `remove --force`, is printed too. Both sides check out with
`checkout.workers=0` (parallel checkout), as parallel-runs does, so neither wins on a setting.
The repository is a generated ~700-file one on tmpfs, or a clone of --repo PATH (any repository on
disk: no network). Rounds alternate between the three so machine noise hits all; the median round
is reported, the median of each round's own ratios, and where a run's time went outside git, the
command and its shim: inside each run (claimed, run, recorded: "everything else", the per-run
goal), and the batch's own start and end, paid once a batch however many runs it has.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from parallel_runs.batch import BatchControl
from parallel_runs.batch import run as run_batch
from parallel_runs.config import build_batch_to_queue
from parallel_runs.git import run_git

attempt = importlib.import_module("parallel_runs.batch.attempt")  # its run_command is timed
pool = importlib.import_module("parallel_runs.batch.pool")  # its run_one is timed

GOAL = 1.10  # ÷ the floor
OTHER_GOAL_MS = 5.0  # everything that is neither git nor the run's command, per run
_IDENTITY = ("-c", "user.name=bench", "-c", "user.email=bench@example.com")
_PARALLEL_CHECKOUT = ("-c", "checkout.workers=0")


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
    git(repo, *_IDENTITY, "commit", "--quiet", "-m", "bench")
    return repo


def bench_repository(root: Path, source: Path | None, files: int) -> Path:
    """A clone of `source` (its HEAD), or a generated repository, at root/repo."""
    if source is None:
        return generate_repository(root, files)
    git(root, "clone", "--quiet", str(source.resolve()), str(root / "repo"))
    return root / "repo"


def floor_run(
    repo: Path, path: Path, branch: str, *, sleep: float = 0.0, run: Callable[..., object] = git
) -> None:
    """What git must do for one run: a worktree on a new branch, the run's changes committed (none:
    an empty commit), the worktree removed; `sleep`: the run's command, `run`: how git is run
    (bench/pool.py retries what meets another's lock)."""
    run(repo, *_PARALLEL_CHECKOUT, "worktree", "add", "--quiet", "-b", branch, str(path), "HEAD")
    if sleep:
        subprocess.run(["sleep", str(sleep)], check=True)
    run(path, "add", "-A")
    run(path, *_IDENTITY, "commit", "--quiet", "--allow-empty", "-m", "run")
    run(repo, "worktree", "remove", "--force", str(path))


def floor_round(repo: Path, scratch: Path, runs: int) -> float:
    """`runs` sequential floor runs."""
    started = time.perf_counter()
    for i in range(runs):
        floor_run(repo, scratch / f"floor-{i:02d}", f"bench-floor/{i:02d}")
    return time.perf_counter() - started


def detached_round(repo: Path, scratch: Path, runs: int) -> float:
    """`runs` sequential bare `worktree add --detach` / `remove --force` pairs (the old baseline)."""
    started = time.perf_counter()
    for i in range(runs):
        path = scratch / f"bare-{i:02d}"
        git(repo, *_PARALLEL_CHECKOUT, "worktree", "add", "--quiet", "--detach", str(path), "HEAD")
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
    keep_worktrees: bool = False,
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
            "keep_worktrees": keep_worktrees or None,
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


class _Timed:
    """Stands in for run_git's Git() (and wraps the run's command and each run): seconds by name."""

    def __init__(self, git: Any) -> None:
        self.git, self.spent, self.lock = git, defaultdict[str, float](float), threading.Lock()
        self.in_run = threading.local()  # set on a worker's thread while it runs one run
        self.runs = 0.0  # seconds inside runs (claimed, run, recorded), all workers together
        self.steps_in_runs = 0.0  # of which in git and in the command

    def add(self, name: str, started: float) -> None:
        seconds = time.perf_counter() - started
        with self.lock:
            self.spent[name] += seconds
            if getattr(self.in_run, "value", False):
                self.steps_in_runs += seconds

    def execute(self, argv: list[str], **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return self.git.execute(argv, **kwargs)
        finally:  # argv is git -C DIR [-c ...] SUBCOMMAND ...
            self.add(f"git {run_git._name(tuple(argv[3:]))}", started)

    def run(self, real: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        started, self.in_run.value = time.perf_counter(), True
        try:
            return real(*args, **kwargs)
        finally:
            self.in_run.value = False
            with self.lock:
                self.runs += time.perf_counter() - started


@contextmanager
def seconds_by_step() -> Iterator[_Timed]:
    """Seconds spent in each git subcommand parallel-runs starts, in the runs' commands (under their
    shims), and inside each run, while the block runs."""
    real_git, real_command, real_run = run_git._GIT, attempt.run_command, pool.run_one
    timed = _Timed(real_git)

    def command(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return real_command(*args, **kwargs)
        finally:
            timed.add("the command (true, under its shim)", started)

    run_git._GIT, attempt.run_command = timed, command  # type: ignore[assignment]
    pool.run_one = functools.partial(timed.run, real_run)
    try:
        yield timed
    finally:
        run_git._GIT, attempt.run_command, pool.run_one = real_git, real_command, real_run


def cpu_seconds() -> float:
    """CPU time of this process and of every child it has waited for (theirs, recursively): the
    machine's load changes it far less than wall time."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


@dataclass(frozen=True)
class Breakdown:
    """Where one round's time went outside git and the command, per run: inside each run (the
    per-run cost the goal is about), and the batch's own start and end (paid once a batch)."""

    per_run_ms: float
    batch_ms: float
    spent: dict[str, float]

    @classmethod
    def of(cls, timed: _Timed, total: float, runs: int) -> Breakdown:
        steps_outside = sum(timed.spent.values()) - timed.steps_in_runs
        per_run = (timed.runs - timed.steps_in_runs) / runs * 1000
        return cls(per_run, (total - timed.runs - steps_outside) * 1000, dict(timed.spent))

    def print(self, runs: int) -> None:
        """Git by subcommand, the command, and the rest."""
        per_run = {
            name: seconds / runs * 1000 for name, seconds in sorted(self.spent.items(), key=lambda i: -i[1])
        }
        listed = ", ".join(f"{name} {ms:.1f}" for name, ms in per_run.items() if ms >= 0.05)
        print(
            f"where a run's time went (median round, ms/run): {listed}, everything else "
            f"{self.per_run_ms:.1f}, and outside any run {self.batch_ms / runs:.1f}"
        )


def reset(repo: Path, runs_dir: Path) -> None:
    """Forget earlier rounds so every round does the same work (fresh branches, fresh stores)."""
    shutil.rmtree(runs_dir, ignore_errors=True)
    refs = git(
        repo,
        "for-each-ref",
        "--format=%(refname)",
        "refs/heads/parallel-runs/",
        "refs/parallel-runs/",
        "refs/heads/bench-floor/",
    )
    for ref in refs.split():
        git(repo, "update-ref", "-d", ref)


def main() -> int:
    """Measure, print the times, the ratios and the breakdown."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repo", type=Path, help="clone this repository (on disk) instead of generating one")
    parser.add_argument("--files", type=int, default=700, help="files in the generated repository")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds; the median is reported")
    parser.add_argument("--runs", type=int, default=32, help="runs per round")
    args = parser.parse_args()
    shm = Path("/dev/shm")
    root = Path(tempfile.mkdtemp(prefix="pr-bench-", dir=shm if shm.is_dir() else None))
    try:
        repo = bench_repository(root, args.repo, args.files)
        files = len(git(repo, "ls-files").splitlines())
        print(f"repository: {files} files at {repo}; {args.runs} runs, 1 worker, {args.rounds} rounds")
        runs_dir, scratch = root / "runs", root / "scratch"
        scratch.mkdir()
        floor, detached, ours, breakdowns, cpus, cpu_ratios = [], [], [], [], [], []
        for round_no in range(args.rounds):
            reset(repo, runs_dir)
            before = cpu_seconds()
            floor.append(floor_round(repo, scratch, args.runs))
            floor_cpu = cpu_seconds() - before
            detached.append(detached_round(repo, scratch, args.runs))
            cpu, before = time.process_time(), cpu_seconds()
            with seconds_by_step() as timed:
                ours.append(parallel_runs_round(repo, runs_dir, round_no, args.runs))
            cpus.append((time.process_time() - cpu) / args.runs * 1000)
            cpu_ratios.append((cpu_seconds() - before) / floor_cpu)
            breakdowns.append(Breakdown.of(timed, ours[-1], args.runs))
            print(
                f"  round {round_no + 1}: floor {floor[-1]:.2f}s, bare add/remove {detached[-1]:.2f}s, "
                f"parallel-runs {ours[-1]:.2f}s, everything else {breakdowns[-1].per_run_ms:.1f} ms/run "
                f"and {breakdowns[-1].batch_ms:.0f} ms a batch, CPU of our process {cpus[-1]:.1f} ms/run"
            )
        f, d, o = statistics.median(floor), statistics.median(detached), statistics.median(ours)
        ms = 1000 / args.runs
        print(f"floor (worktree add -b, add -A, commit, remove): {f:.2f}s ({f * ms:.0f} ms/run)")
        print(f"bare git worktree add/remove:                    {d:.2f}s ({d * ms:.0f} ms/run)")
        print(f"parallel-runs run:                               {o:.2f}s ({o * ms:.0f} ms/run)")
        # Each round's own ratio (its three parts ran back to back), then their median: the load of a
        # shared machine swings between rounds more than within one.
        ratio = statistics.median(ours[i] / floor[i] for i in range(args.rounds))
        old = statistics.median(ours[i] / detached[i] for i in range(args.rounds))
        print(f"ratio: {ratio:.2f}x the floor (goal <= {GOAL}x) {'OK' if ratio <= GOAL else 'ABOVE GOAL'}")
        print(f"ratio to bare worktree add --detach + remove --force: {old:.2f}x")
        print(
            f"CPU ratio (this process and every git, shim and command it waited for) to the floor's gits: "
            f"{statistics.median(cpu_ratios):.2f}x"
        )
        middle = sorted(breakdowns, key=lambda b: b.per_run_ms)[len(breakdowns) // 2]
        verdict = "OK" if middle.per_run_ms <= OTHER_GOAL_MS else "ABOVE GOAL"
        print(f"everything else: {middle.per_run_ms:.1f} ms/run (goal <= {OTHER_GOAL_MS:.0f} ms) {verdict}")
        batch = statistics.median(b.batch_ms for b in breakdowns)
        outside = "outside any run (the batch's start and end, between runs; not git)"
        print(f"{outside}: {batch:.0f} ms a batch, {batch / args.runs:.1f} ms/run")
        middle.print(args.runs)
        # Wall time outside git waits on the CPU under load; this process's own CPU time does not.
        print(
            f"CPU of parallel-runs' own process (all threads, no child): {statistics.median(cpus):.1f} ms/run"
        )
        print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        return 0
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
