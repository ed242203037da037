"""A fresh, migrated `parallel_runs_bench_<hex>` database on a PostgreSQL server, dropped afterwards
(the benches that measure the shared store: claims.py, connections.py, dashboard.py)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from parallel_runs.store import upgrade
from parallel_runs.store.urls import parse_postgres_url

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


@contextmanager
def bench_database(url: str) -> Iterator[str]:
    """The URL of a fresh migrated database on the server of `url`; dropped when the block ends."""
    name = f"parallel_runs_bench_{secrets.token_hex(4)}"
    admin = create_engine(parse_postgres_url(url), isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    made = make_url(url).set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(made)
        yield made
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
