"""The per-run SQLite store: one small file per run, opened for a handful of writes and closed."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Self

from sqlalchemy import exc as sa_exc
from sqlalchemy import func, select, update
from sqlalchemy.engine import Connection

from parallel_runs.core.model import Attempt, Outcome, PullRequest
from parallel_runs.errors import StoreError
from parallel_runs.store.closing import Closing
from parallel_runs.store.local_index import record_write
from parallel_runs.store.models import AttemptModel
from parallel_runs.store.rows import read_attempts, record_pull_request, select_attempts
from parallel_runs.store.sqlite_engine import (
    BEGIN_OPTION,
    BUSY_TIMEOUT_MS,
    CURRENT_PATH,
    created_with_schema,
    engine,
    file_identity,
    schema_ddl,
)
from parallel_runs.store.sqlite_writes import BEGIN, ENSURE_RUN, FINISH, RECORD, UPGRADES

__all__ = ["BUSY_TIMEOUT_MS", "SCHEMA_VERSION", "RunStore"]

log = logging.getLogger(__name__)

SCHEMA_VERSION = 5  # kept in PRAGMA user_version: a reopen reads one pragma instead of the catalog
# What the runs dir's index records after each write (built once: a few hundred calls a build).
_HELD = select_attempts().order_by(AttemptModel.attempt)


class RunStore(Closing):
    """The attempts of one run (and its `runs` row), in `<runs_dir>/<slug>/<slug>.db`."""

    def __init__(self, path: Path, *, indexed_in: Path | None = None) -> None:
        self.path = path
        self.indexed_in = indexed_in
        self._has_schema = False
        self._closed = False
        # Inside `with store:`, its operations share one connection (a run's begin is three of
        # them); outside, each opens the file and closes it, as nothing would close a kept one.
        self._keep = False
        self._kept: Connection | None = None
        self._kept_file: tuple[int, int] | None = None  # (device, inode) the kept connection has open

    def __enter__(self) -> Self:
        self._keep = True
        return self

    @classmethod
    def open(cls, path: Path, *, create: bool = True, indexed_in: Path | None = None) -> RunStore:
        """Open the store at `path` (absolute); with `create`, a missing store is made, else refused.

        `indexed_in`: the runs dir whose index each write is recorded in (`local_index.py`)."""
        if not path.is_absolute():
            raise ValueError(f"store path must be absolute, got {path}")
        if create:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"cannot create the directory of store {path}: {exc}") from exc
        elif not path.is_file():
            raise StoreError(f"no store at {path}")
        store = cls(path, indexed_in=indexed_in)
        if create and not path.exists():  # nothing to check: made here with the schema, or by the first write
            store._has_schema = created_with_schema(path, SCHEMA_VERSION)
            return store
        # Reading the header now reports a corrupt or foreign file at open, not at the first write.
        with store._transaction("open", write=False) as conn:
            old = conn.exec_driver_sql("PRAGMA user_version").scalar_one() in UPGRADES
            if not old:
                store._check_schema(conn)
        if old:
            store._upgrade()
        return store

    def _upgrade(self) -> None:
        """Bring a store an earlier version wrote up to SCHEMA_VERSION (IMMEDIATE: one upgrader wins)."""
        with self._transaction("upgrade the schema", write=True) as conn:
            version = conn.exec_driver_sql("PRAGMA user_version").scalar_one()
            for statement in UPGRADES.get(version, ()):
                conn.exec_driver_sql(statement)
            conn.exec_driver_sql(f"PRAGMA user_version = {SCHEMA_VERSION}")
            self._check_schema(conn)

    def _check_schema(self, conn: Connection) -> bool:
        """True if the file holds our schema; False if it is empty; StoreError if it is foreign."""
        if self._has_schema:
            return True
        version = conn.exec_driver_sql("PRAGMA user_version").scalar_one()
        if version > SCHEMA_VERSION:
            raise StoreError(f"store {self.path} has schema {version}, newer than {SCHEMA_VERSION}")
        if version == SCHEMA_VERSION:
            self._has_schema = True
            return True
        if conn.exec_driver_sql("SELECT count(*) FROM sqlite_master").scalar_one():
            raise StoreError(f"{self.path} is an SQLite file but not a parallel-runs store")
        return False

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        """Translate driver and SQLAlchemy errors into a StoreError naming the file."""
        try:
            yield
        except (sa_exc.SQLAlchemyError, sqlite3.Error) as exc:
            cause = getattr(exc, "orig", None) or exc
            if "not a database" in str(cause) or "malformed" in str(cause):
                raise StoreError(f"{self.path} is not a readable SQLite store ({cause})") from exc
            raise StoreError(f"store {self.path}: {doing} failed: {cause}") from exc

    @contextmanager
    def _transaction(self, doing: str, *, write: bool) -> Iterator[Connection]:
        if self._closed:
            raise StoreError(f"store {self.path} is closed")
        mode = "IMMEDIATE" if write else "DEFERRED"
        with (
            self._errors(doing),
            self._connection() as conn,
            conn.execution_options(**{BEGIN_OPTION: mode}).begin(),
        ):
            yield conn

    @contextmanager
    def _connection(self) -> Iterator[Connection]:
        """The one this `with store:` block keeps (opened at its first operation), or one of its own."""
        if self._kept is None:
            token = CURRENT_PATH.set(self.path)
            try:
                conn = engine().connect()
            finally:
                CURRENT_PATH.reset(token)
            if not self._keep:
                with conn:
                    yield conn
                return
            self._kept, self._kept_file = conn, file_identity(self.path)
        yield self._kept

    def resumed(self) -> bool:
        """Ready a kept connection for a write after the run: False if the file at `path` is not the one
        it has open (to be opened anew). The schema is checked again: a run may rewrite its store."""
        self._has_schema, kept_file = False, self._kept_file
        return self._kept is None or (kept_file is not None and kept_file == file_identity(self.path))

    @contextmanager
    def _writing(self, doing: str, *, index: bool = True) -> Iterator[Connection]:
        # The schema is created inside the first write's transaction: one commit (and its fsyncs)
        # fewer per run, and IMMEDIATE means two first writers cannot both create it.
        with self._transaction(doing, write=True) as conn:
            if not self._check_schema(conn):
                for statement in schema_ddl():
                    conn.exec_driver_sql(statement)
                conn.exec_driver_sql(f"PRAGMA user_version = {SCHEMA_VERSION}")
                log.debug("creating store schema in %s", self.path)
            yield conn
            held = None
            if index and self.indexed_in is not None:  # what the store holds once this write commits
                held = read_attempts(conn, _HELD)
        self._has_schema = True
        if held is not None and self.indexed_in is not None:
            record_write(self.indexed_in, self.path, held)

    @contextmanager
    def _reading(self, doing: str) -> Iterator[Connection | None]:
        """The store's connection in a read transaction, or None while the store is still empty."""
        with self._transaction(doing, write=False) as conn:
            if not self._check_schema(conn):
                yield None
                return
            yield conn

    def begin_attempt(
        self,
        *,
        run_id: str,
        slug: str,
        batch_id: str,
        attempt: int,
        base_sha: str,
        branch: str,
        host: str,
        pid: int,
        started_at: datetime,
    ) -> None:
        """Record a new attempt as `running` (and the run, if new); a duplicate is a StoreError."""
        # Not indexed: a running attempt's store is read from its file (few run at once), and its end is.
        with self._writing("begin attempt", index=False) as conn:
            conn.execute(ENSURE_RUN, {"p_run": run_id, "p_slug": slug, "p_at": started_at})
            try:
                conn.execute(
                    BEGIN,
                    {
                        "p_run": run_id,
                        "p_attempt": attempt,
                        "p_batch": batch_id,
                        "p_started_at": started_at,
                        "p_base_sha": base_sha,
                        "p_branch": branch,
                        "p_host": host,
                        "p_pid": pid,
                    },
                )
            except sa_exc.IntegrityError as exc:
                raise StoreError(
                    f"attempt {attempt} of run {run_id!r} is already recorded in {self.path}"
                ) from exc

    def finish_attempt(self, result: Attempt) -> None:
        """Write the final outcome of an attempt (recording it whole if it never began here)."""
        values: dict[str, Any] = {
            "p_run": result.run_id,
            "p_attempt": result.attempt,
            "p_batch": result.batch_id,
            "p_status": result.outcome.value,
            "p_exit_code": result.exit_code,
            "p_started_at": result.started_at,
            "p_finished_at": result.finished_at,
            "p_base_sha": result.base_sha,
            "p_head_sha": result.head_sha,
            "p_branch": result.branch,
            "p_host": result.host,
            "p_pid": result.pid,
            "p_error": result.error,
            "p_error_tail": result.error_tail,
            "p_changed_files": result.changed_files,
            "p_tests": result.tests.to_json() if result.tests else None,
        }
        with self._writing("finish attempt") as conn:
            if conn.execute(FINISH, values).rowcount:
                return
            conn.execute(
                ENSURE_RUN, {"p_run": result.run_id, "p_slug": result.slug, "p_at": result.started_at}
            )
            conn.execute(RECORD, values)

    def mark_abandoned(self, *, run_id: str, attempt: int, at: datetime, reason: str) -> bool:
        """Mark an attempt `abandoned` if it is still `running`; True if it was."""
        with self._writing("mark abandoned") as conn:
            changed = conn.execute(
                update(AttemptModel)
                .where(
                    AttemptModel.run_id == run_id,
                    AttemptModel.attempt == attempt,
                    AttemptModel.status == Outcome.RUNNING.value,
                )
                .values(status=Outcome.ABANDONED.value, finished_at=at, error=reason)
            ).rowcount
        return bool(changed)

    def record_pull_request(self, attempt: Attempt, pull: PullRequest) -> None:
        """Record the pull request opened from the attempt's branch."""
        with self._writing("record a pull request") as conn:
            conn.execute(record_pull_request(attempt, pull))

    def last_attempt_number(self, run_id: str) -> int:
        """The highest attempt number recorded for a run, 0 if none."""
        query = select(func.max(AttemptModel.attempt)).where(AttemptModel.run_id == run_id)
        with self._reading("read attempts") as conn:
            number = None if conn is None else conn.scalar(query)
        return number or 0

    def attempts(self, run_id: str | None = None) -> list[Attempt]:
        """Every attempt (of one run, or of all), ordered by run id then attempt number."""
        query = select_attempts()
        if run_id is not None:
            query = query.where(AttemptModel.run_id == run_id)
        query = query.order_by(AttemptModel.run_id, AttemptModel.attempt)
        with self._reading("read attempts") as conn:
            return [] if conn is None else read_attempts(conn, query)

    def latest_attempt(self, run_id: str) -> Attempt | None:
        """The attempt with the highest number for a run, or None."""
        query = (
            select_attempts()
            .where(AttemptModel.run_id == run_id)
            .order_by(AttemptModel.attempt.desc())
            .limit(1)
        )
        with self._reading("read attempts") as conn:
            found = [] if conn is None else read_attempts(conn, query)
        return found[0] if found else None

    def close(self) -> None:
        """Close the store, and the connection its `with` block kept."""
        self._closed = True
        if self._kept is not None:
            self._kept.close()
            self._kept = None
