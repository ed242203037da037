"""CLI start-up against bare Python (P7 of issue #18): `.venv/bin/python bench/startup.py`.

`parallel-runs --help`, `--version` and each command's `--help`, each timed as a whole process
against `python -c pass` of the same interpreter. Every round runs the baseline and then each
command once, in turn, so machine noise hits all of them; each row is the median of its rounds
÷ the baseline's median. The goal is at most 3x for every row.

As installed, our modules' bytecode is cached (pip compiles it; an editable install writes it on
first use): the processes run without PYTHONDONTWRITEBYTECODE, which some shells set and which
would make every start compile our sources again (some 10 ms more).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from parallel_runs.cli import build_parser
from parallel_runs.cli.common import command_paths

GOAL = 3.0
BASELINE = "python -c pass"


def entry_point() -> list[str]:
    """The `parallel-runs` console script beside this interpreter (what users run), else `-m`."""
    script = Path(sys.executable).with_name("parallel-runs")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "parallel_runs"]


ENVIRONMENT = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}


def wall(argv: list[str]) -> float:
    """Seconds one process takes, start to exit; it must succeed."""
    started = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, env=ENVIRONMENT)
    return time.perf_counter() - started


def measure(rounds: int) -> dict[str, list[float]]:
    """Each label's times, one per round, the baseline and the commands run in turn."""
    cli = entry_point()
    cases = {BASELINE: [sys.executable, "-c", "pass"]}
    cases |= {"--help": [*cli, "--help"], "--version": [*cli, "--version"]}
    cases |= {f"{' '.join(path)} --help": [*cli, *path, "--help"] for path in command_paths(build_parser())}
    for argv in cases.values():  # warm the page cache, write the bytecode files
        wall(argv)
    times: dict[str, list[float]] = {label: [] for label in cases}
    for _ in range(rounds):
        for label, argv in cases.items():
            times[label].append(wall(argv))
    return times


def main() -> int:
    """Print the table and the worst ratio against the goal."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15, help="rounds (default 15)")
    rounds = parser.parse_args().rounds
    times = measure(rounds)
    base = statistics.median(times[BASELINE])
    ratios = {label: statistics.median(values) / base for label, values in times.items()}
    width = max(map(len, times))
    print(f"P7 CLI start-up, {rounds} rounds, medians; baseline `{BASELINE}` {base * 1000:.1f} ms")
    print(f"{'command':<{width}}  {'median':>9}  {'ratio':>6}")
    for label, values in times.items():
        print(f"{label:<{width}}  {statistics.median(values) * 1000:>6.1f} ms  {ratios[label]:>5.2f}x")
    worst = max((ratio, label) for label, ratio in ratios.items() if label != BASELINE)
    verdict = "OK" if worst[0] <= GOAL else "ABOVE GOAL"
    print(f"worst ratio: {worst[0]:.2f}x ({worst[1]}); goal <= {GOAL:g}x {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
