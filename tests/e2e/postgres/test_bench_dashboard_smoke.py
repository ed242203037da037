"""bench/dashboard.py stays runnable: a small batch on both stores, its figures printed.

The `database_url` fixture skips this without PostgreSQL locally, and fails it in CI (CI=true).
"""

from __future__ import annotations

import subprocess
import sys

from tests.helpers import BENCH, read_by_make_bench


def test_dashboard_bench_prints_both_stores_figures(database_url: str) -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(BENCH / "dashboard.py"),
            "--runs",
            "40",
            "--rounds",
            "1",
            "--database-url",
            database_url,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode in (0, 1), done.stdout + done.stderr  # 1: a goal missed on a busy machine
    for store in ("runs dir", "shared store"):
        assert f"{store}: first paint, just started:" in done.stdout
        assert f"{store}: filtered API page, median:" in done.stdout
        assert f"{store}: filtered API page after a change, median:" in done.stdout
    assert "worst first paint: just started" in done.stdout
    read_by_make_bench("dashboard.py", done.stdout)
    assert "load average:" in done.stdout
