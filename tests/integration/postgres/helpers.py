"""Builders shared by the PostgreSQL tests (not fixtures)."""

from __future__ import annotations

import multiprocessing
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from multiprocessing.context import BaseContext
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from parallel_runs.core.model import Attempt, Outcome
from parallel_runs.store import Claim, ReconnectPolicy, Records, Store, open_records
from parallel_runs.store.urls import parse_postgres_url

T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
FAST_RECONNECTS = ReconnectPolicy(tries=2, first_delay=0.05, max_delay=0.05)


def result_for(claim: Claim, outcome: Outcome = Outcome.SUCCEEDED, **overrides: Any) -> Attempt:
    """The final result of a claimed attempt, with defaults for everything not under test."""
    fields: dict[str, Any] = {
        "run_id": claim.run_id,
        "slug": claim.slug,
        "batch_id": claim.batch_id,
        "attempt": claim.attempt,
        "outcome": outcome,
        "exit_code": 0 if outcome is Outcome.SUCCEEDED else 1,
        "started_at": T0,
        "finished_at": T0 + timedelta(seconds=5),
        "base_sha": claim.base_sha,
        "head_sha": "b" * 40,
        "branch": f"parallel-runs/{claim.slug}",
        "host": claim.owner.host,
        "pid": claim.owner.pid,
    }
    return Attempt(**(fields | overrides))


def process_context(module: str) -> BaseContext:
    """Processes started from a clean fork server that imported the store and `module` once.

    Like spawn, nothing is inherited from the test process (no pooled connections, no threads);
    unlike spawn, twenty children do not each pay the imports on a two-core runner.
    """
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["parallel_runs.store", module])
    return context


# --- the test server ---------------------------------------------------------------------------

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def admin_url() -> str:
    """The test server: PARALLEL_RUNS_TEST_DATABASE_URL, else local trust auth."""
    return os.environ.get("PARALLEL_RUNS_TEST_DATABASE_URL", DEFAULT_URL)


def url_for(database: str) -> str:
    """The admin URL pointing at another database (password kept: tests connect with it)."""
    return make_url(admin_url()).set(database=database).render_as_string(hide_password=False)


def _execute(sql: str) -> None:
    # parse_postgres_url pins psycopg2: SQLAlchemy 2.1 reads a bare postgresql:// as psycopg 3.
    engine = create_engine(parse_postgres_url(admin_url()), isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with engine.connect() as conn:
            conn.execute(text(sql))
    finally:
        engine.dispose()


def create_database(name: str) -> str:
    """Create an empty database; return its URL."""
    _execute(f'CREATE DATABASE "{name}"')
    return url_for(name)


def drop_database(name: str) -> None:
    """Drop a database even if a killed test process left connections to it."""
    _execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def server_is_up() -> bool:
    """Whether the test server accepts connections now."""
    try:
        _execute("SELECT 1")
    except sa_exc.OperationalError:
        return False
    return True


def cluster() -> tuple[str, str] | None:
    """(version, name) of the local Debian-style cluster, if pg_ctlcluster manages one."""
    versions = sorted(Path("/etc/postgresql").glob("*/main")) if Path("/etc/postgresql").is_dir() else []
    if not versions or shutil.which("pg_ctlcluster") is None:
        return None
    return versions[-1].parent.name, "main"


def wait_for_server(timeout: float = 60) -> None:
    """Start the local cluster if it is down, and wait until it accepts connections."""
    deadline = time.monotonic() + timeout
    while not server_is_up():
        if cluster() is not None:
            subprocess.run(
                ["pg_ctlcluster", "--skip-systemctl-redirect", *(cluster() or ()), "start"],
                capture_output=True,
                timeout=120,
                check=False,
            )
        if time.monotonic() > deadline:
            raise RuntimeError("PostgreSQL did not come back")
        time.sleep(0.2)


@dataclass
class Location:
    """A place records are written to through its `Store`, and read back from with `open_records`
    (the `location` fixture: a runs dir, then a PostgreSQL database)."""

    store: Store
    runs_dir: Path  # where each attempt's files are written (the shared store keeps copies)
    place: Path | str  # what `open_records` is given

    def open(self) -> Records:
        return open_records(self.place)
