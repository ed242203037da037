"""Alembic migrations of the shared store, run from the package (no alembic.ini needed)."""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.engine import Connection

from parallel_runs.errors import ConfigError
from parallel_runs.store.database import ReconnectPolicy, UnavailableError, create_store_engine, retry
from parallel_runs.store.urls import mask_url, parse_postgres_url

if TYPE_CHECKING:
    from alembic.config import Config

__all__ = [
    "MIGRATIONS_DIR",
    "current_revision",
    "fix_command",
    "head_revision",
    "require_current_schema",
    "upgrade",
]

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
# Two `db upgrade` at once would both try to create the tables: the second waits for the first.
# A transaction-level lock, so it also holds behind PgBouncer's transaction pooling.
_MIGRATION_LOCK_KEY = 0x70_72_75_6E_73  # "pruns"

# Alembic is imported inside the functions that use it: per-run SQLite users never pay for it.


def _config(connection: Connection | None = None) -> Config:
    from alembic.config import Config  # noqa: PLC0415

    config = Config(attributes={"connection": connection} if connection is not None else {})
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    return config


@functools.cache
def head_revision() -> str:
    """The revision this version of parallel-runs expects the database to be at."""
    from alembic.script import ScriptDirectory  # noqa: PLC0415

    return ScriptDirectory.from_config(_config()).get_current_head() or ""


def current_revision(connection: Connection) -> str | None:
    """The revision the database is at, None if it was never migrated."""
    from alembic.runtime.migration import MigrationContext  # noqa: PLC0415

    return MigrationContext.configure(connection).get_current_revision()


def fix_command(masked_url: str) -> str:
    """The command that brings a database's schema up to date."""
    return f"parallel-runs db upgrade --database-url {masked_url}"


def require_current_schema(connection: Connection, *, masked_url: str) -> None:
    """ConfigError (naming the fix) unless the database's schema is exactly at our head."""
    from alembic.script import ScriptDirectory  # noqa: PLC0415

    current, head = current_revision(connection), head_revision()
    if current == head:
        return
    known = {rev.revision for rev in ScriptDirectory.from_config(_config()).walk_revisions()}
    if current is not None and current not in known:
        raise ConfigError(
            f"database {masked_url} has schema revision {current}, newer than this parallel-runs "
            f"knows ({head}); upgrade parallel-runs on this machine"
        )
    state = "has no parallel-runs schema" if current is None else f"has schema revision {current}"
    raise ConfigError(
        f"database {masked_url} {state}, behind revision {head}; run: {fix_command(masked_url)}"
    )


def upgrade(url: str, *, policy: ReconnectPolicy | None = None, revision: str = "head") -> str:
    """Apply the migrations (up to `revision`) to the database at `url`; return the revision it is at."""
    from alembic import command  # noqa: PLC0415

    parsed = parse_postgres_url(url)
    engine = create_store_engine(parsed)

    def migrate() -> str:
        with engine.begin() as connection:
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY})
            command.upgrade(_config(connection), revision)
            return current_revision(connection) or ""

    try:
        reached = retry(migrate, doing="db upgrade", url=url, policy=policy or ReconnectPolicy())
    except UnavailableError as exc:
        raise ConfigError(str(exc)) from exc
    finally:
        engine.dispose()
    log.info("database %s is at schema revision %s", mask_url(url), reached)
    return reached
