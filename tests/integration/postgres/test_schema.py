"""Schema, migrations, URLs and secrets of the shared store against a real PostgreSQL."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Callable

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.pool import NullPool

from parallel_runs.cli import main
from parallel_runs.errors import ConfigError, ParallelRunsError
from parallel_runs.store import ReconnectPolicy, SharedStore, mask_url, upgrade
from parallel_runs.store.migrate import HEAD_REVISION, MIGRATIONS_DIR
from parallel_runs.store.models import SharedBase
from parallel_runs.store.urls import parse_postgres_url, scrub

SECRET = "s3cr3t-pw"
TABLES = {
    "alembic_version",
    "runs",
    "attempts",
    "events",
    "batches",
    "batch_runs",
    "artifact_blobs",
    "attempt_artifacts",
    "test_results",
}
NO_RECONNECTS = ReconnectPolicy(tries=1)


def test_the_head_revision_the_store_checks_is_alembics_head() -> None:
    """A store opening a database compares its version row with HEAD_REVISION, without Alembic: a
    new migration must move it, or every database would look one revision behind (or ahead)."""
    scripts = ScriptDirectory(str(MIGRATIONS_DIR))
    assert scripts.get_heads() == [HEAD_REVISION]


def test_opening_a_current_database_imports_no_alembic(database_url: str) -> None:
    code = (
        "import sys; from parallel_runs.store import SharedStore\n"
        f"with SharedStore.connect({database_url!r}) as store: store.attempts()\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'alembic'))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def with_password(url: str, *, database: str | None = None, port: int | None = None) -> str:
    """The URL with SECRET as password (trust auth ignores it, so connections still work)."""
    parsed = parse_postgres_url(url).set(drivername="postgresql", password=SECRET)
    parsed = parsed.set(database=database) if database else parsed
    parsed = parsed.set(port=port) if port else parsed
    return parsed.render_as_string(hide_password=False)


def test_upgrade_from_empty_creates_the_schema_the_models_describe(
    scratch_database: Callable[[], str],
) -> None:
    url = scratch_database()
    assert upgrade(url) == HEAD_REVISION == "0006"
    assert upgrade(url) == "0006"  # idempotent
    engine = create_engine(parse_postgres_url(url), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            assert set(inspect(conn).get_table_names()) == TABLES
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(context, SharedBase.metadata) == []
    finally:
        engine.dispose()
    with SharedStore.connect(url) as store:
        assert store.attempts() == []


def test_a_0001_database_upgrades_and_its_batches_keep_the_old_behaviour(
    scratch_database: Callable[[], str],
) -> None:
    url = scratch_database()
    assert upgrade(url, revision="0001") == "0001"
    engine = create_engine(parse_postgres_url(url), poolclass=NullPool)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO batches (batch_id, run_ids, command_shell, retries, base_sha) "
                    "VALUES ('old', '[\"r1\"]', 'true', 2, :sha)"
                ),
                {"sha": "a" * 40},
            )
    finally:
        engine.dispose()
    assert upgrade(url) == "0006"
    with SharedStore.connect(url) as store:
        old = store.get_batch("old")
    assert old is not None
    assert (old.retries, old.retry_delay, old.redo, old.grace, old.deadline, old.tests) == (
        2,
        0.0,
        False,
        10.0,
        None,
        None,
    )


def test_connect_refuses_an_unmigrated_database_naming_the_fix(scratch_database: Callable[[], str]) -> None:
    url = with_password(scratch_database())
    with pytest.raises(ConfigError) as caught:
        SharedStore.connect(url)
    message = str(caught.value)
    assert caught.value.exit_code == 2
    assert "has no parallel-runs schema" in message
    assert f"parallel-runs db upgrade --database-url {mask_url(url)}" in message
    assert ":***@" in message
    assert SECRET not in message


def test_db_upgrade_command_then_connect(
    scratch_database: Callable[[], str], capsys: pytest.CaptureFixture[str]
) -> None:
    url = with_password(scratch_database())
    assert main(["db", "upgrade", "--database-url", url]) == 0
    out, err = capsys.readouterr()
    assert "is at schema revision 0006" in out
    assert SECRET not in out + err
    SharedStore.connect(url).close()


@pytest.mark.parametrize("scheme", ["postgresql", "postgresql+psycopg2"])
def test_both_postgres_url_forms_are_accepted(database_url: str, scheme: str) -> None:
    url = parse_postgres_url(database_url).set(drivername=scheme).render_as_string(hide_password=False)
    with SharedStore.connect(url) as store:
        assert store.get_batch("no-such-batch") is None


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (f"postgres://u:{SECRET}@h/db", "write postgresql://"),
        (f"mysql://u:{SECRET}@h/db", "needs postgresql://"),
        ("sqlite:///runs.db", "needs postgresql://"),
        (f"postgresql://u:{SECRET}@h", "names no database"),
        (f"not a url {SECRET}", "not a valid URL"),
    ],
)
def test_other_urls_are_refused_without_their_password(url: str, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected) as caught:
        SharedStore.connect(url)
    assert SECRET not in str(caught.value)


def test_mask_url_hides_userinfo_and_query_passwords() -> None:
    assert mask_url(f"postgresql://u:{SECRET}@h:5432/db") == "postgresql://u:***@h:5432/db"
    assert SECRET not in mask_url(f"postgresql://u@h/db?password={SECRET}&sslmode=require")
    assert SECRET not in mask_url(f"postgresql://u:{SECRET}@h/db with garbage")
    assert (
        scrub(f"FATAL: {SECRET} and s3cr3t%2Dpw", f"postgresql://u:{SECRET}@h/db")
        == "FATAL: *** and s3cr3t%2Dpw"
    )


@pytest.mark.parametrize(
    "target",
    [
        pytest.param({"database": "parallel_runs_no_such_db"}, id="missing-database"),
        pytest.param({"port": 1}, id="refused-port"),
    ],
)
def test_password_never_in_errors_or_logs(
    database_url: str, target: dict[str, object], caplog: pytest.LogCaptureFixture
) -> None:
    url = with_password(database_url, **target)  # type: ignore[arg-type]
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ParallelRunsError) as caught:
        SharedStore.connect(url, reconnect_policy=ReconnectPolicy(tries=2, first_delay=0.01))
    with pytest.raises(ParallelRunsError) as caught_upgrade:
        upgrade(url, policy=ReconnectPolicy(tries=2, first_delay=0.01))
    for error in (caught.value, caught_upgrade.value):
        assert error.exit_code == 2
        assert ":***@" in str(error)
        assert SECRET not in str(error)
    if "port" in target:  # refused connections are retried, and each retry is logged
        assert any("retrying" in record.getMessage() for record in caplog.records)
    for record in caplog.records:
        assert SECRET not in record.getMessage()


def test_password_never_in_a_log_of_an_unknown_host(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ConfigError) as caught:
        SharedStore.connect(f"postgresql://postgres:{SECRET}@nonexistent.invalid:5432/db")
    assert "nonexistent.invalid" in str(caught.value)
    assert SECRET not in str(caught.value)
    assert all(SECRET not in record.getMessage() for record in caplog.records)


def test_password_never_in_debug_logs_of_a_working_connection(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    # Before the engine exists (SQLAlchemy decides then); its loggers default to WARNING.
    caplog.set_level(logging.DEBUG, logger="sqlalchemy")
    with SharedStore.connect(with_password(database_url)) as store:
        assert store.get_batch("nothing") is None
        assert SECRET not in store.masked_url
    messages = [record.getMessage() for record in caplog.records]
    assert any("connection" in message.lower() for message in messages)  # the pool did log
    assert all(SECRET not in message for message in messages)
