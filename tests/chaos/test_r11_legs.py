"""R11 (issue #22 item 5): 256 legs on one PostgreSQL, through PgBouncer in transaction pooling.

64 worker processes of 4 workers each (standing in for 64 matrix legs x 4 workers) drain 2,000
no-op runs of one batch at `full` scale; 16 processes and 200 runs at `quick` (32 client
connections: still more than the pool). The server is a private cluster limited to 30
connections; PgBouncer (tests/chaos/pgbouncer.py) holds at most POOL_SIZE of them. Goal: every
run executed exactly once (a ledger each run appends its id to), every run recorded `succeeded`,
and never more server connections than the pool (pg_stat_activity, sampled every 20 ms straight
from the server). Without PgBouncer the same legs fail with "too many clients".
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from parallel_runs.store.urls import parse_postgres_url
from tests.chaos.conftest import Figures, count
from tests.chaos.pgbouncer import pgbouncer
from tests.chaos.support import clone
from tests.helpers import cli, finish, start_cli
from tests.integration.postgres.private_server import PrivateServer, private_server

pytestmark = pytest.mark.chaos

MAX_CONNECTIONS, POOL_SIZE, WORKERS = 30, 20, 4
# Client backends on the store's database other than the sampler itself: PgBouncer's server side.
_SERVER_CONNECTIONS = text(
    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
    " AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
)


def _limit_connections(server: PrivateServer, limit: int) -> None:
    engine = create_engine(parse_postgres_url(server.url), poolclass=NullPool, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f"ALTER SYSTEM SET max_connections = {limit}"))
    server.restart()
    with engine.connect() as conn:
        assert conn.execute(text("SHOW max_connections")).scalar_one() == str(limit)
    engine.dispose()


class _Sampler(threading.Thread):
    """The most server connections seen at once, read straight from the server."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url, self.most, self.done = url, 0, threading.Event()

    def run(self) -> None:
        engine = create_engine(parse_postgres_url(self.url), poolclass=NullPool, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            while not self.done.wait(0.02):
                self.most = max(self.most, int(conn.execute(_SERVER_CONNECTIONS).scalar_one()))
        engine.dispose()


@pytest.mark.scenario("R11 256 legs, PgBouncer")
@pytest.mark.timeout(3600)
def test_r11_256_legs_share_a_30_connection_server_through_pgbouncer(
    repo: Path, tmp_path: Path, figures: Figures
) -> None:
    processes, runs = count(full=64, quick=16), count(full=2000, quick=200)
    ledger, batch = tmp_path / "ledger", f"legs-{secrets.token_hex(3)}"
    clones = [repo] + [clone(repo, tmp_path / f"leg-{n}") for n in range(1, processes)]
    command = f'echo "$PARALLEL_RUNS_RUN_ID" >> {ledger}'
    shared = ("--workers", str(WORKERS), "--quiet")
    figures.trials = runs
    figures.faults = (
        f"{processes} processes x {WORKERS} workers through PgBouncer (transaction pooling, pool "
        f"{POOL_SIZE}) on a server of max_connections {MAX_CONNECTIONS}"
    )
    with private_server() as server:
        _limit_connections(server, MAX_CONNECTIONS)
        with pgbouncer(server, pool_size=POOL_SIZE) as url:
            sampler = _Sampler(server.url)
            sampler.start()
            began = time.monotonic()
            ids = f"r{{0001..{runs:04d}}}"
            legs = [
                start_cli(
                    "run", "--database-url", url, "--batch-id", batch, "--run-ids", ids,
                    "--command", command, *shared, cwd=clones[0],
                )
            ] + [
                start_cli("worker", "--database-url", url, "--batch", batch, "--wait", "5m", *shared, cwd=leg)
                for leg in clones[1:]
            ]  # fmt: skip
            said = [(leg.args, *finish(leg, timeout=3000), leg.returncode) for leg in legs]
            took = time.monotonic() - began
            sampler.done.set()
            sampler.join()
            report = cli("report", "--format", "json", "--database-url", url, "--batch", batch, cwd=repo)
    ran = Counter(ledger.read_text().split())
    figures.double_executions = sum(times - 1 for times in ran.values())
    figures.lost_changes = runs - len(ran)
    figures.notes = (
        f"server connections at most {sampler.most} (pool {POOL_SIZE}); {runs} runs in {took:.0f}s"
    )
    failed = [f"{args[3]} exit {code}: {(out + err)[-300:]}" for args, out, err, code in said if code != 0]
    assert not failed, failed[:3]
    assert figures.double_executions == 0
    assert figures.lost_changes == 0
    assert json.loads(report.stdout)["counts"] == {"succeeded": runs}
    assert 0 < sampler.most <= POOL_SIZE
