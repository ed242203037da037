"""Fixtures of the PostgreSQL tests: one migrated database per session, created and dropped here.

The server comes from PARALLEL_RUNS_TEST_DATABASE_URL (default: local trust auth). Unreachable:
the tests are skipped locally and fail in CI (CI=true), where a silent skip would hide them.
No test here stops that server (other xdist workers use it): those that must, stop a private
cluster of their own (private_server.py).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NoReturn

import pytest
from sqlalchemy.engine import make_url

from parallel_runs.core.command import CommandSpec
from parallel_runs.store import BatchDefinition, LocalStore, SharedStore, Store, upgrade
from tests.integration.postgres.helpers import (
    FAST_RECONNECTS,
    Location,
    admin_url,
    create_database,
    drop_database,
    server_is_up,
    wait_for_server,
)


def skip_locally_fail_in_ci(message: str) -> NoReturn:
    """Skip the test, except in CI (CI=true), where a silent skip would hide it: fail it there."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """One migrated database for the whole session, dropped at the end."""
    if not server_is_up():
        skip_locally_fail_in_ci(f"PostgreSQL is not reachable at {make_url(admin_url()).render_as_string()}")
    name = f"parallel_runs_test_{secrets.token_hex(6)}"
    url = create_database(name)
    try:
        upgrade(url)
        yield url
    finally:
        wait_for_server()
        drop_database(name)


@pytest.fixture
def scratch_database(database_url: str) -> Iterator[Callable[[], str]]:
    """Factory of extra empty databases (for migration tests), dropped after the test."""
    names: list[str] = []

    def make() -> str:
        names.append(f"parallel_runs_test_{secrets.token_hex(6)}")
        return create_database(names[-1])

    yield make
    for name in names:
        drop_database(name)


@pytest.fixture
def store(database_url: str, tmp_path: Path) -> Iterator[SharedStore]:
    """The session database, with a spool dir of its own and quick retries."""
    with SharedStore.connect(
        database_url, spool_dir=tmp_path / "spool", reconnect_policy=FAST_RECONNECTS
    ) as opened:
        yield opened


@pytest.fixture
def make_batch(store: SharedStore) -> Callable[..., BatchDefinition]:
    """Factory: a new batch whose run ids no other test uses (attempt numbers are per run id)."""

    def make(runs: int = 3, **overrides: object) -> BatchDefinition:
        prefix = secrets.token_hex(4)
        fields: dict[str, object] = {
            "batch_id": f"batch-{prefix}",
            "run_ids": tuple(f"run-{prefix}-{n:03d}" for n in range(runs)),
            "command": CommandSpec(argv=("true",)),
            "base_sha": "a" * 40,
        }
        return store.create_batch(BatchDefinition(**(fields | overrides)))  # type: ignore[arg-type]

    return make


@pytest.fixture(params=["runs-dir", "postgresql"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Location]:
    """Each read-side test twice: over a runs dir of per-run SQLite files, then the shared store."""
    runs_dir = tmp_path / "runs"
    store: Store
    if request.param == "runs-dir":
        store, place = LocalStore(runs_dir), runs_dir
    else:
        url = request.getfixturevalue("database_url")  # skipped here (failed in CI) without a server
        store = SharedStore.connect(url, spool_dir=tmp_path / "spool", reconnect_policy=FAST_RECONNECTS)
        place = url
    try:
        yield Location(store, runs_dir, place)
    finally:
        store.close()
