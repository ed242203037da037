"""Alembic migrations of the shared store, run from the package (no alembic.ini needed)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
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
    "HEAD_REVISION",
    "MIGRATIONS_DIR",
    "SchemaChange",
    "SchemaNotReady",
    "current_revision",
    "ensure_schema",
    "fix_command",
    "require_current_schema",
    "upgrade",
]

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
# Two migrations at once (`db upgrade`, or `plan`s of a matrix on one empty database) would both try
# to create the tables: the second waits for the first, then finds the schema current.
# A transaction-level lock, so it also holds behind PgBouncer's transaction pooling (CONTRACTS §7).
_MIGRATION_LOCK_KEY = 0x70_72_75_6E_73  # "pruns"

# Alembic is imported inside the functions that use it: per-run SQLite users never pay for it.


def _config(connection: Connection | None = None) -> Config:
    from alembic.config import Config  # noqa: PLC0415

    config = Config(attributes={"connection": connection} if connection is not None else {})
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    return config


# The revision this version expects a database at (the newest migration's): a process opening a
# current database reads one row and never imports Alembic (~0.1 s of CPU in every worker, leg and
# report); test_schema checks it against Alembic's scripts.
HEAD_REVISION = "0006"
_HAS_VERSION_TABLE = text("SELECT to_regclass('alembic_version') IS NOT NULL")
_VERSIONS = text("SELECT version_num FROM alembic_version")


def current_revision(connection: Connection) -> str | None:
    """The revision the database is at, None if it was never migrated: Alembic's version table, read
    directly (Alembic itself only for a table of several rows, a branched history, to say so)."""
    if not connection.execute(_HAS_VERSION_TABLE).scalar_one():
        return None
    versions = connection.execute(_VERSIONS).scalars().all()
    if len(versions) > 1:
        from alembic.runtime.migration import MigrationContext  # noqa: PLC0415

        return MigrationContext.configure(connection).get_current_revision()
    return versions[0] if versions else None


class SchemaNotReady(ConfigError):
    """No parallel-runs schema yet, or an older one: `plan`, `run` or `db upgrade` brings it up to date."""


@dataclass(frozen=True, slots=True)
class SchemaChange:
    """What `ensure_schema` did to a database: created the schema (`before` None) or upgraded it."""

    masked_url: str
    before: str | None
    after: str

    def __str__(self) -> str:
        if self.before is None:
            return f"created the parallel-runs schema (revision {self.after}) in database {self.masked_url}"
        return (
            f"upgraded the parallel-runs schema of database {self.masked_url} "
            f"from revision {self.before} to {self.after}"
        )


def fix_command(masked_url: str) -> str:
    """The command that brings a database's schema up to date."""
    return f"parallel-runs db upgrade --database-url {masked_url}"


def _refuse_newer(current: str | None, *, masked_url: str) -> None:
    """ConfigError when the database is at a revision this version does not know (a newer one)."""
    if current is None or current == HEAD_REVISION:
        return
    from alembic.script import ScriptDirectory  # noqa: PLC0415

    known = {rev.revision for rev in ScriptDirectory.from_config(_config()).walk_revisions()}
    if current not in known:
        raise ConfigError(
            f"database {masked_url} has schema revision {current}, newer than this parallel-runs "
            f"knows ({HEAD_REVISION}); upgrade parallel-runs on this machine"
        )


def require_current_schema(connection: Connection, *, masked_url: str) -> None:
    """ConfigError (naming the fix) unless the database's schema is exactly at our head."""
    current = current_revision(connection)
    if current == HEAD_REVISION:
        return
    _refuse_newer(current, masked_url=masked_url)
    state = "has no parallel-runs schema" if current is None else f"has schema revision {current}"
    raise SchemaNotReady(
        f"database {masked_url} {state}, behind revision {HEAD_REVISION}; `plan` and `run` create or "
        f"upgrade it, or run: {fix_command(masked_url)}"
    )


def _migrate(url: str, revision: str, policy: ReconnectPolicy | None) -> tuple[str | None, str]:
    """Bring the database at `url` to `revision` under the migration lock: (revision before, after).

    A database at a revision newer than ours is refused, never touched.
    """
    from alembic import command  # noqa: PLC0415

    masked = mask_url(url)
    engine = create_store_engine(parse_postgres_url(url))

    def migrate() -> tuple[str | None, str]:
        with engine.begin() as connection:
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY})
            before = current_revision(connection)  # read under the lock: another migration is done
            _refuse_newer(before, masked_url=masked)
            if before == revision or (revision == "head" and before == HEAD_REVISION):
                return before, before or ""
            command.upgrade(_config(connection), revision)
            return before, current_revision(connection) or ""

    try:
        return retry(migrate, doing="migrate the schema", url=url, policy=policy or ReconnectPolicy())
    except UnavailableError as exc:
        raise ConfigError(str(exc)) from exc
    finally:
        engine.dispose()


def upgrade(url: str, *, policy: ReconnectPolicy | None = None, revision: str = "head") -> str:
    """Apply the migrations (up to `revision`) to the database at `url`; return the revision it is at."""
    _, reached = _migrate(url, revision, policy)
    log.info("database %s is at schema revision %s", mask_url(url), reached)
    return reached


def ensure_schema(url: str, *, policy: ReconnectPolicy | None = None) -> SchemaChange | None:
    """Create the schema on an empty database, or upgrade one that is behind (what `plan` and `run` do).

    None when it was already current; ConfigError when it is newer than this version knows.
    """
    before, after = _migrate(url, "head", policy)
    return None if before == after else SchemaChange(mask_url(url), before, after)
