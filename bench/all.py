"""`make bench`: P1, P2, P6 and P8 of issue #13, P7 of issue #18 and the dashboard of #21 in one
table, each against its baseline of the same run.

Each figure comes from its own script (run alone for details): overhead.py (P1), pool.py (P2),
claims.py (P6), startup.py (P7), connections.py (P8), dashboard.py (issue #21's scale),
dashboard_logs.py (#21's followed logs). Git-heavy
ones run on tmpfs.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

# (figure, script and its arguments, pattern of the line to show, goal)
FIGURES = (
    (
        "P1 no-op run / bare worktree add+remove",
        ["overhead.py", "--rounds", "3"],
        r"ratio: ([\d.]+)x",
        "<= 1.15x",
    ),
    (
        "P2 64 x sleep 0.5, 16 workers / ideal 2 s",
        ["pool.py", "--rounds", "2"],
        r"ratio to ideal: ([\d.]+)x",
        "<= 1.25x",
    ),
    ("P6 claims/s / naive one-UPDATE claim", ["claims.py"], r"throughput x([\d.]+)", ">= 0.5x"),
    ("P6 claim latency p99", ["claims.py"], r"claim latency: p50 [\d.]+ ms, p99 ([\d.]+) ms", "<= 50 ms"),
    (
        "P7 CLI start-up, worst --help or --version / python -c pass",
        ["startup.py"],
        r"worst ratio: ([\d.]+)x",
        "<= 3x",
    ),
    ("P8 connections per process, --workers 8", ["connections.py"], r"at most (\d+)", "<= 2"),
    (
        "#21 dashboard, 10,000 runs: first paint (warm), worst store",
        ["dashboard.py"],
        r"worst first paint \(read again\): (\d+) ms",
        "<= 1000 ms",
    ),
    (
        "#21 dashboard, 10,000 runs: filtered API page, median, worst store",
        ["dashboard.py"],
        r"worst filtered API page median: (\d+) ms",
        "<= 300 ms",
    ),
    (
        "#21 dashboard: following a log after 256 MB, median poll without / with the cursor",
        ["dashboard_logs.py"],
        r"ratio baseline / cursor: ([\d.]+)x",
        ">= 10x",
    ),
)


def main() -> int:
    """Run every script once (claims.py once for both of its figures) and print the table."""
    outputs: dict[str, str] = {}
    rows = []
    for figure, command, pattern, goal in FIGURES:
        key = " ".join(command)
        if key not in outputs:
            done = subprocess.run(
                [sys.executable, *command], cwd=HERE, capture_output=True, text=True, check=False
            )
            outputs[key] = done.stdout + done.stderr
            print(f"--- {key}\n{outputs[key].rstrip()}", flush=True)
        found = re.search(pattern, outputs[key])
        rows.append((figure, found.group(1) if found else "failed", goal))
    width = max(len(row[0]) for row in rows)
    print(f"\n{'figure':<{width}}  measured  goal")
    for figure, measured, goal in rows:
        print(f"{figure:<{width}}  {measured:>8}  {goal}")
    return 0 if all(measured != "failed" for _, measured, _ in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
