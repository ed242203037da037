"""P8, connections: the most PostgreSQL connections one worker process holds, against its --workers.

A `run --database-url ... --workers 8` works 48 runs of `sleep 0.3` while this script samples
pg_stat_activity every 20 ms. The baseline, in the same run, is what one connection per worker
thread would hold (--workers). A fresh `parallel_runs_bench_<hex>` database is made and dropped.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from parallel_runs.store.urls import parse_postgres_url
from scratch_database import DEFAULT_URL, bench_database  # type: ignore[import-not-found]

GOAL = 2
SEEN = text(
    "SELECT count(*) FROM pg_stat_activity WHERE datname = :db AND application_name = 'parallel-runs'"
)


def _sample(url: str, database: str, stop: threading.Event, seen: list[int]) -> None:
    # Autocommit: pg_stat_activity is read once per transaction, a long one would see one moment.
    engine = create_engine(parse_postgres_url(url), poolclass=NullPool, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        while not stop.wait(0.02):
            seen.append(int(conn.execute(SEEN, {"db": database}).scalar_one()))
    engine.dispose()


def _repository(root: Path) -> Path:
    repo = root / "repo"
    subprocess.run(["git", "init", "--quiet", "-b", "main", str(repo)], check=True)
    (repo / "README.md").write_text("bench\n")
    subprocess.run(["git", "-C", str(repo), "add", "-A"], check=True)
    identity = ["-c", "user.name=bench", "-c", "user.email=bench@example.com"]
    subprocess.run(["git", "-C", str(repo), *identity, "commit", "--quiet", "-m", "bench"], check=True)
    return repo


def measure(url: str, workers: int = 8) -> dict[str, int]:
    """The most connections seen at once, and the one-per-thread baseline."""
    with (
        bench_database(url) as bench_url,
        tempfile.TemporaryDirectory(prefix="pr-conn-", dir="/dev/shm") as scratch,
    ):
        database = make_url(bench_url).database
        repo, seen, stop = _repository(Path(scratch)), [0], threading.Event()
        sampler = threading.Thread(target=_sample, args=(url, database, stop, seen))
        sampler.start()
        command = [sys.executable, "-m", "parallel_runs", "run", "--database-url", bench_url, "--quiet"]
        command += ["--run-ids", "c{01..48}", "--workers", str(workers), "--command", "sleep 0.3"]
        subprocess.run(command, cwd=repo, check=True, capture_output=True, env=os.environ)
        stop.set()
        sampler.join()
    return {"ours": max(seen), "one_per_thread": workers}


def main() -> int:
    """Print the figure against the goal."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--database-url", default=os.environ.get("PARALLEL_RUNS_TEST_DATABASE_URL", DEFAULT_URL)
    )
    parser.add_argument("--workers", type=int, default=8)
    args = parser.parse_args()
    started = time.perf_counter()
    got = measure(args.database_url, args.workers)
    print(
        f"connections of one worker process with --workers {args.workers}: at most {got['ours']} "
        f"(one per thread would be {got['one_per_thread']}; goal <= {GOAL}) "
        f"[{time.perf_counter() - started:.1f}s]"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
