"""The process-wide SQLite engines of the per-run stores, and the schema's DDL, compiled once."""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import sqlite3
import threading
from contextvars import ContextVar
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.dialects.sqlite import pysqlite
from sqlalchemy.engine import Connection
from sqlalchemy.pool import NullPool
from sqlalchemy.schema import CreateIndex, CreateTable

from parallel_runs.store.models import Base

__all__ = [
    "BEGIN_OPTION",
    "BUSY_TIMEOUT_MS",
    "CURRENT_PATH",
    "created_with_schema",
    "engine",
    "file_identity",
    "schema_ddl",
]

BUSY_TIMEOUT_MS = 10_000  # `report` may read while a run writes: wait for the lock rather than fail
BEGIN_OPTION = "parallel_runs_begin"  # how a transaction begins: DEFERRED (the default) or IMMEDIATE


@functools.cache
def schema_ddl() -> tuple[str, ...]:
    # DDL has no parameters, so it is compiled once per process rather than once per store.
    dialect = pysqlite.dialect()
    statements: list[str] = []
    for table in Base.metadata.sorted_tables:
        statements.append(str(CreateTable(table).compile(dialect=dialect)))
        statements.extend(str(CreateIndex(index).compile(dialect=dialect)) for index in table.indexes)
    return tuple(statements)


@functools.cache
def _empty_store(version: int) -> bytes:
    """The bytes of a store holding the schema and no row, made once per process in memory."""
    with contextlib.closing(sqlite3.connect(":memory:")) as connection:
        for statement in (*schema_ddl(), f"PRAGMA user_version = {version}"):
            connection.execute(statement)
        connection.commit()
        return connection.serialize()


def created_with_schema(path: Path, version: int) -> bool:
    """Make the store at `path` a copy of an empty one: a run's first write then runs no DDL (seven
    statements of its fourteen). False, and nothing made, where `path` exists (another creator won)
    or the copy fails: the first write then creates the schema itself, inside its transaction."""
    partial = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.new")
    try:
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)  # SQLite's own mode
        try:
            image = _empty_store(version)
            if os.write(fd, image) != len(image):  # a short write (a full disk) must never be linked
                raise OSError(errno.ENOSPC, "short write")
        finally:
            os.close(fd)
        os.link(partial, path)  # atomic, and refuses an existing file: never a store over a store
    except OSError:
        return False
    finally:
        partial.unlink(missing_ok=True)
    return True


def file_identity(path: Path) -> tuple[int, int] | None:
    """(device, inode) of the file at `path`, None if there is none."""
    try:
        found = os.stat(path)
    except OSError:
        return None
    return found.st_dev, found.st_ino


# Which file the current operation connects to. One engine serves every per-run store in the
# process: a fresh engine per store recompiles every statement (and re-adapts every type) for its
# own dialect, which costs more than all of a store's SQLite work together.
CURRENT_PATH: ContextVar[Path] = ContextVar("parallel_runs_store_path")


def _connect() -> sqlite3.Connection:
    # Any thread may close a connection (a store closing the ones its runs kept); one uses it at a time.
    connection = sqlite3.connect(CURRENT_PATH.get(), timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False)
    # We emit BEGIN ourselves (see _on_begin): the driver's implicit BEGIN is deferred, and a
    # deferred transaction that reads and then writes can fail with SQLITE_BUSY without waiting.
    connection.isolation_level = None
    # Rollback journal (SQLite's default, not WAL): only the .db file remains after close.
    # NORMAL spares an fsync per commit; these are run records, not a ledger.
    connection.execute("PRAGMA foreign_keys = ON")
    connection.execute("PRAGMA synchronous = NORMAL")
    return connection


def _on_begin(conn: Connection) -> None:
    mode = conn.get_execution_options().get(BEGIN_OPTION, "DEFERRED")
    # Straight to the driver: a statement with no result needs none of an execution's machinery
    # (twice a run, a tenth of a millisecond each after the run's git processes).
    conn.connection.driver_connection.execute(f"BEGIN {mode}")  # type: ignore[union-attr]


@functools.cache
def engine() -> Engine:
    """The process-wide engine; NullPool: a connection opens the file, and closing it closes the file.
    Each transaction begins as its connection's BEGIN_OPTION says (RunStore sets it per transaction)."""
    created = create_engine("sqlite+pysqlite://", creator=_connect, poolclass=NullPool)
    event.listen(created, "begin", _on_begin)
    return created
