"""bench/claims.py stays runnable: a tiny round against the test server, checking its figures.

The `database_url` fixture skips this without PostgreSQL locally, and fails it in CI (CI=true).
"""

from __future__ import annotations

import re
import subprocess
import sys

from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from parallel_runs.store.urls import parse_postgres_url
from tests.helpers import BENCH, read_by_make_bench


def database_exists(url: str, name: str) -> bool:
    engine = create_engine(parse_postgres_url(url), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            found = conn.execute(text("select 1 from pg_database where datname = :n"), {"n": name}).first()
    finally:
        engine.dispose()
    return found is not None


def test_claims_bench_prints_no_duplicates_and_its_figures(database_url: str) -> None:
    shape = ["--processes", "2", "--threads", "2", "--runs", "20"]
    done = subprocess.run(
        [sys.executable, str(BENCH / "claims.py"), "--database-url", database_url, *shape],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert "2 processes x 2 threads = 4 workers, 20 queued runs" in lines  # the options were used
    assert "duplicates: 0" in lines
    assert any(re.fullmatch(r"claims/s \(claim \+ finish, no-op runs\): \d+", line) for line in lines)
    assert any(line.startswith("baseline naive one-UPDATE claim: ") for line in lines)
    read_by_make_bench("claims.py", done.stdout)
    # Its scratch database is dropped at the end.
    scratch = re.search(r"^database: \S+/(parallel_runs_bench_[0-9a-f]+)$", done.stdout, re.MULTILINE)
    assert scratch is not None, done.stdout
    assert not database_exists(database_url, scratch[1])


def test_connections_bench_counts_what_a_worker_process_holds(database_url: str) -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH / "connections.py"), "--database-url", database_url, "--workers", "4"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    held = re.search(r"at most (\d+) \(one per thread would be 4", done.stdout)
    assert held is not None, done.stdout
    assert 1 <= int(held[1]) <= 2
    read_by_make_bench("connections.py", done.stdout)
