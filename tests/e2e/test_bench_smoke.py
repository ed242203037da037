"""The benchmarks stay runnable: a tiny round of each, checking they print their figures."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.helpers import BENCH, read_by_make_bench


def bench(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    """One tiny round of bench/`script`, its output captured, with every figure `make bench` reads."""
    command = [sys.executable, str(BENCH / script), *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    read_by_make_bench(script, done.stdout + done.stderr)
    return done


def test_overhead_bench_prints_both_times_and_the_ratio() -> None:
    done = bench("overhead.py", "--files", "20", "--rounds", "1", "--runs", "2")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "bare git worktree add/remove:" in done.stdout
    assert "the floor (goal <= 1.1x)" in done.stdout
    assert "everything else:" in done.stdout
    assert "git worktree" in done.stdout.split("where a run's time went")[1]


def test_pool_bench_prints_its_ratios() -> None:
    done = bench("pool.py", "--rounds", "1", "--runs", "4", "--workers", "2", "--seconds", "0.1")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ratio to ideal:" in done.stdout
    assert "to git's floor:" in done.stdout


def test_disk_bench_prints_its_ratio() -> None:
    done = bench("disk.py", "--files", "20")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "disk ratio:" in done.stdout


def test_history_bench_times_recover_with_and_without_the_index() -> None:
    done = bench("history.py", "--runs", "6", "--rounds", "1")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "runs dir of 6 finished runs" in done.stdout  # the option was used
    assert "with the runs dir's index: " in done.stdout
    assert "without it (every store opened): " in done.stdout


def test_dashboard_logs_bench_prints_both_ways_and_the_ratio() -> None:
    done = bench("dashboard_logs.py", "--before", "1", "--polls", "3", "--grow", "4")
    assert done.returncode in (0, 1), done.stdout + done.stderr  # 1: the goal, far from its 256 MB
    for way in ("baseline", "cursor"):
        assert f"{way}: median poll " in done.stdout
    assert "ratio baseline / cursor: " in done.stdout


def test_reuse_bench_prints_both_disks_ratios_and_the_setups_paid(tmp_path: Path) -> None:
    done = bench(
        "reuse.py",
        "--files",
        "20",
        "--runs",
        "3",
        "--rounds",
        "1",
        "--ext4-dir",
        str(tmp_path),
        "--setup-seconds",
        "0",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "tmpfs reuse ratio:" in done.stdout
    assert "ext4 reuse ratio:" in done.stdout
    assert "reuse: 8 runs on 2 workers paid the setup " in done.stdout
