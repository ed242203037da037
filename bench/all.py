"""`make bench`: P1, P2, P4, P6 and P8 of issues #13 and #22, P7 of issue #18, the dashboard of #21
and the reused worktrees of #22 in one table, each next to its baseline of the same run and its goal.

Each figure comes from its own script (run alone for details): overhead.py (P1), pool.py (P2),
disk.py (P4), claims.py (P6), startup.py (P7), connections.py (P8), reuse.py (issue #22's reused
worktrees, on tmpfs and ext4), dashboard.py (issue #21's scale), dashboard_logs.py (#21's followed
logs), history.py (a run's start in a long-used runs dir). The other git-heavy ones run on
tmpfs. A missed goal stays in the table; where its time goes is in the script's own output above the
table and in docs/PERFORMANCE.md.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

# (figure, script and its arguments, pattern of the figure, pattern of its baseline or None, goal)
FIGURES = (
    (
        "P1 no-op run / git's floor (worktree add -b, add -A + commit, remove)",
        ["overhead.py", "--rounds", "3"],
        r"ratio: ([\d.]+)x the floor",
        r"floor \(worktree add -b, add -A, commit, remove\): *[\d.]+s \((\d+ ms)/run\)",
        "<= 1.10x",
    ),
    (
        "P1 CPU of a no-op run (ours + its gits, shim, command) / the floor's gits",
        ["overhead.py", "--rounds", "3"],
        r"CPU ratio \(.*\) to the floor's gits: ([\d.]+)x",
        None,
        "<= 1.10x",
    ),
    (
        "P1 everything else per run, wall (not git, not the command; CPU beside it)",
        ["overhead.py", "--rounds", "3"],
        r"everything else: ([\d.]+ ms)/run",
        r"CPU of parallel-runs' own process .*: ([\d.]+ ms)/run",
        "<= 5 ms",
    ),
    (
        "P1 no-op run / bare worktree add --detach + remove (old baseline)",
        ["overhead.py", "--rounds", "3"],
        r"ratio to bare worktree add --detach \+ remove --force: ([\d.]+)x",
        r"bare git worktree add/remove: *[\d.]+s \((\d+ ms)/run\)",
        "was <= 1.15x",
    ),
    (
        "P2 64 x sleep 0.5, 16 workers / git's floor at 16-way",
        ["pool.py", "--rounds", "2"],
        r"to git's floor: ([\d.]+)x",
        r"git's floor .*: ([\d.]+s)",
        "<= 1.10x",
    ),
    (
        "P2 the same / ideal 2 s",
        ["pool.py", "--rounds", "2"],
        r"ratio to ideal: ([\d.]+)x",
        r"xargs -P \d+ ([\d.]+s)",
        "(was <= 1.25x)",
    ),
    (
        "P4 disk of 8 worktrees / (8 x checkout + 1 x .git)",
        ["disk.py"],
        r"disk ratio: ([\d.]+)x",
        r"8 x checkout \+ 1 x \.git: (\d+ KiB)",
        "published",
    ),
    ("P6 claims/s / naive one-UPDATE claim", ["claims.py"], r"throughput x([\d.]+)", None, ">= 0.5x"),
    (
        "P6 claim latency p99",
        ["claims.py"],
        r"claim latency: p50 [\d.]+ ms, p99 ([\d.]+) ms",
        None,
        "<= 50 ms",
    ),
    (
        "P7 CLI start-up, worst --help or --version / python -c pass",
        ["startup.py"],
        r"worst ratio: ([\d.]+)x",
        None,
        "<= 3x",
    ),
    ("P8 connections per process, --workers 8", ["connections.py"], r"at most (\d+)", None, "<= 2"),
    (
        "#22 reused worktree / fresh create+remove, 30,000 files, tmpfs",
        ["reuse.py", "--runs", "6", "--rounds", "3"],
        r"tmpfs reuse ratio: ([\d.]+)x",
        None,
        "<= 0.25x",
    ),
    (
        "#22 reused worktree / fresh create+remove, 30,000 files, ext4",
        ["reuse.py", "--runs", "6", "--rounds", "3"],
        r"ext4 reuse ratio: ([\d.]+)x",
        None,
        "<= 0.25x",
    ),
    (
        "#22 runs paying a 5 s setup, 8 runs on 2 workers, --keep-ignored",
        ["reuse.py", "--runs", "6", "--rounds", "3"],
        r"reuse: 8 runs on 2 workers paid the setup (\d+) times",
        None,
        "2 (not 8)",
    ),
    (
        "a run's start in a runs dir of 400 finished runs: recover without / with its index",
        ["history.py"],
        r"history ratio without / with the index: ([\d.]+)x",
        r"without it \(every store opened\): (\d+ ms)",
        "published",
    ),
    (
        "#21 dashboard, 10,000 runs: first paint (warm), worst store",
        ["dashboard.py"],
        r"worst first paint: just started \d+ ms, read again (\d+) ms",
        None,
        "<= 1000 ms",
    ),
    (
        "#21 dashboard, 10,000 runs: filtered API page, median, worst store",
        ["dashboard.py"],
        r"worst filtered API page median: (\d+) ms",
        None,
        "<= 300 ms",
    ),
    (
        "#21 dashboard: following a log after 256 MB, median poll without / with the cursor",
        ["dashboard_logs.py"],
        r"ratio baseline / cursor: ([\d.]+)x",
        None,
        ">= 10x",
    ),
)


def unread(script: str, output: str) -> list[str]:
    """The figures the table reads from bench/`script` whose figure or baseline `output` lacks
    (each script's smoke test checks none is: a renamed line must not leave a figure "failed")."""
    return [
        figure
        for figure, command, pattern, baseline_pattern, _ in FIGURES
        if command[0] == script
        and not all(re.search(wanted, output) for wanted in (pattern, baseline_pattern) if wanted)
    ]


def main() -> int:
    """Run every script once (one run serves all of its figures) and print the table."""
    outputs: dict[str, str] = {}
    rows = []
    for figure, command, pattern, baseline_pattern, goal in FIGURES:
        key = " ".join(command)
        if key not in outputs:
            done = subprocess.run(
                [sys.executable, *command], cwd=HERE, capture_output=True, text=True, check=False
            )
            outputs[key] = done.stdout + done.stderr
            print(f"--- {key}\n{outputs[key].rstrip()}", flush=True)
        found = re.search(pattern, outputs[key])
        baseline = re.search(baseline_pattern, outputs[key]) if baseline_pattern else None
        rows.append(
            (figure, found.group(1) if found else "failed", baseline.group(1) if baseline else "-", goal)
        )
    width = max(len(row[0]) for row in rows)
    print(f"\n{'figure':<{width}}  measured  baseline  goal")
    for figure, measured, baseline, goal in rows:
        print(f"{figure:<{width}}  {measured:>8}  {baseline:>8}  {goal}")
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0 if all(row[1] != "failed" for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
