"""The per-run SQLite store against real files, including competing processes."""

from __future__ import annotations

import os
import shutil
import sqlite3
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from parallel_runs.core.model import Attempt, Outcome, PullRequest
from parallel_runs.errors import StoreError
from parallel_runs.store import Claim, LeaseOwner, LocalStore, RunStore, sqlite_engine
from parallel_runs.store.sqlite import SCHEMA_VERSION
from tests.helpers import wait_for

T0 = datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)
PLUS_TWO = timezone(timedelta(hours=2))


def begin(store: RunStore, run_id: str = "exp-1", attempt: int = 1, **overrides: Any) -> None:
    """Begin an attempt with defaults for everything not under test."""
    fields: dict[str, Any] = {
        "run_id": run_id,
        "slug": run_id.replace("/", "-"),
        "batch_id": "batch-1",
        "attempt": attempt,
        "base_sha": "a" * 40,
        "branch": f"parallel-runs/{run_id}",
        "host": "host-1",
        "pid": 4242,
        "started_at": T0,
    }
    store.begin_attempt(**(fields | overrides))


def result(run_id: str = "exp-1", attempt: int = 1, **overrides: Any) -> Attempt:
    """A finished attempt with defaults for everything not under test."""
    fields: dict[str, Any] = {
        "run_id": run_id,
        "slug": run_id.replace("/", "-"),
        "batch_id": "batch-1",
        "attempt": attempt,
        "outcome": Outcome.SUCCEEDED,
        "exit_code": 0,
        "started_at": T0,
        "finished_at": T0 + timedelta(seconds=90),
        "base_sha": "a" * 40,
        "head_sha": "b" * 40,
        "branch": f"parallel-runs/{run_id}",
        "host": "host-1",
        "pid": 4242,
    }
    return Attempt(**(fields | overrides))


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """Where a run's store lives, under a directory that does not exist yet."""
    return tmp_path / "runs" / "exp-1" / "exp-1.db"


def test_begin_then_finish_round_trips_with_aware_utc_datetimes(db: Path) -> None:
    with RunStore.open(db) as store:
        begin(store, started_at=T0.astimezone(PLUS_TWO))
        running = store.latest_attempt("exp-1")
        assert running is not None
        assert running.outcome is Outcome.RUNNING
        assert running.finished_at is None
        assert running.duration_seconds is None
        assert running.started_at == T0
        assert running.started_at.tzinfo is UTC

        store.finish_attempt(result(outcome=Outcome.FAILED, exit_code=3, error="boom", head_sha="c" * 40))

    with RunStore.open(db) as store:
        [record] = store.attempts()
    assert record == Attempt(
        run_id="exp-1",
        slug="exp-1",
        attempt=1,
        batch_id="batch-1",
        outcome=Outcome.FAILED,
        exit_code=3,
        started_at=T0,
        finished_at=T0 + timedelta(seconds=90),
        base_sha="a" * 40,
        head_sha="c" * 40,
        branch="parallel-runs/exp-1",
        host="host-1",
        pid=4242,
        error="boom",
    )
    assert record.finished_at is not None
    assert record.finished_at.tzinfo is UTC
    assert record.duration_seconds == 90.0


def test_attempt_numbers_and_ordering(db: Path) -> None:
    with RunStore.open(db) as store:
        assert store.last_attempt_number("exp-1") == 0
        assert store.latest_attempt("exp-1") is None
        assert store.attempts() == []
        begin(store, "exp-2", 1)
        begin(store, "exp-1", 1)
        store.finish_attempt(result("exp-1", 1, outcome=Outcome.FAILED, exit_code=1))
        begin(store, "exp-1", 2, batch_id="batch-2")

        assert store.last_attempt_number("exp-1") == 2
        assert store.last_attempt_number("exp-2") == 1
        assert store.last_attempt_number("nope") == 0
        assert [(r.run_id, r.attempt) for r in store.attempts()] == [("exp-1", 1), ("exp-1", 2), ("exp-2", 1)]
        assert [r.attempt for r in store.attempts("exp-1")] == [1, 2]
        latest = store.latest_attempt("exp-1")
        assert latest is not None
        assert (latest.attempt, latest.outcome, latest.batch_id) == (2, Outcome.RUNNING, "batch-2")


def test_duplicate_attempt_is_a_store_error(db: Path) -> None:
    with RunStore.open(db) as store:
        begin(store)
        with pytest.raises(StoreError, match=r"attempt 1 of run 'exp-1' is already recorded"):
            begin(store, pid=9999)
        [record] = store.attempts()
        assert record.pid == 4242


def test_mark_abandoned_only_touches_a_running_attempt(db: Path) -> None:
    later = T0 + timedelta(minutes=5)
    with RunStore.open(db) as store:
        begin(store, attempt=1)
        store.finish_attempt(result(attempt=1))
        begin(store, attempt=2)

        assert store.mark_abandoned(run_id="exp-1", attempt=1, at=later, reason="lease expired") is False
        assert store.mark_abandoned(run_id="exp-1", attempt=2, at=later, reason="lease expired") is True
        assert store.mark_abandoned(run_id="exp-1", attempt=2, at=later, reason="again") is False
        assert store.mark_abandoned(run_id="exp-1", attempt=7, at=later, reason="missing") is False

        first, second = store.attempts()
    assert (first.outcome, first.error, first.finished_at) == (
        Outcome.SUCCEEDED,
        None,
        T0 + timedelta(seconds=90),
    )
    assert (second.outcome, second.error, second.finished_at) == (Outcome.ABANDONED, "lease expired", later)


def test_finish_without_begin_records_the_whole_attempt(db: Path) -> None:
    with RunStore.open(db) as store:
        store.finish_attempt(result(outcome=Outcome.SKIPPED, exit_code=None, head_sha=None))
        [record] = store.attempts()
    assert (record.outcome, record.exit_code, record.slug) == (Outcome.SKIPPED, None, "exp-1")


def test_naive_datetime_is_refused(db: Path) -> None:
    with RunStore.open(db) as store, pytest.raises(StoreError, match="naive datetime"):
        begin(store, started_at=datetime(2026, 1, 2, 3, 4, 5))  # naive on purpose


def test_path_must_be_absolute() -> None:
    with pytest.raises(ValueError, match="absolute"):
        RunStore.open(Path("relative/x.db"))


def test_open_without_create_refuses_a_missing_store(db: Path) -> None:
    with pytest.raises(StoreError, match="no store at"):
        RunStore.open(db, create=False)
    assert not db.parent.exists()


def test_corrupt_file_is_a_store_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "broken.db"
    path.write_bytes(b"this is not a database at all, just some bytes " * 200)
    with pytest.raises(StoreError, match=r"broken\.db.*not a readable SQLite store"):
        RunStore.open(path)


def test_a_store_broken_after_it_was_opened_fails_its_next_operation_as_a_store_error(db: Path) -> None:
    """LocalStore opens (reads the header of) a run's store once per process, then uses RunStore(path)."""
    with RunStore.open(db) as store:
        begin(store)
    db.write_bytes(b"a run wrote over its own store " * 200)
    with pytest.raises(StoreError, match=r"exp-1\.db.*not a readable SQLite store"), RunStore(db) as again:
        again.finish_attempt(result())
    db.unlink()
    with RunStore(db) as fresh:  # gone: made again, as open() would
        fresh.finish_attempt(result())
        assert [attempt.attempt for attempt in fresh.attempts()] == [1]


def test_foreign_sqlite_file_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE something (x)")
    with pytest.raises(StoreError, match=r"other\.db is an SQLite file but not a parallel-runs store"):
        RunStore.open(path)


def test_closed_store_refuses_use(db: Path) -> None:
    store = RunStore.open(db)
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.attempts()


def test_nothing_but_the_database_file_remains_after_close(db: Path) -> None:
    with RunStore.open(db) as store:
        begin(store)
        store.finish_attempt(result())
        assert store.attempts()
    assert sorted(p.name for p in db.parent.iterdir()) == ["exp-1.db"]
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("delete",)


def test_a_with_block_s_operations_share_one_connection_and_a_new_store_reads_no_header(
    db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened = _opened(monkeypatch)
    with RunStore.open(db) as store:  # a new file: nothing to check before the first write makes it
        assert store.last_attempt_number("exp-1") == 0
        begin(store)
        store.finish_attempt(result())
        assert [a.outcome for a in store.attempts()] == [Outcome.SUCCEEDED]
    assert opened.count(db) == 1  # a run's begin was three connections, its finish one more (P1)
    store = RunStore.open(db)  # outside a `with`, nothing would close a kept connection: none is kept
    store.attempts()
    store.attempts()
    assert opened.count(db) == 1 + 3  # the header check at open, then one each


def _opened(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """The file of every connection the stores open from now on (the empty store's image, made once
    per process in memory, is not a store's file: count a path's own)."""
    opened: list[object] = []
    connect = sqlite3.connect
    monkeypatch.setattr(
        sqlite_engine.sqlite3, "connect", lambda *a, **kw: opened.append(a[0]) or connect(*a, **kw)
    )
    return opened


def _traced(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every SQL statement the stores' connections run from now on (on their files: not the empty
    store's image, made once per process in memory)."""
    statements: list[str] = []
    connect = sqlite3.connect

    def traced(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        connection = connect(*args, **kwargs)
        if args[0] != ":memory:":
            connection.set_trace_callback(statements.append)
        return connection

    monkeypatch.setattr(sqlite_engine.sqlite3, "connect", traced)
    return statements


@pytest.mark.parametrize("copy", ["made", "failed"])
def test_a_new_store_is_a_copy_of_an_empty_one_or_its_first_write_makes_the_schema(
    db: Path, monkeypatch: pytest.MonkeyPatch, copy: str
) -> None:
    """A new store is written whole (an empty store's bytes, linked into place), so a run's first
    write runs no DDL; where the copy cannot be made, the first write creates the schema, as before."""
    if copy == "failed":  # a file system without hard links

        def refused(*_: object) -> None:
            raise OSError(1, "Operation not permitted")

        monkeypatch.setattr(sqlite_engine.os, "link", refused)
    statements = _traced(monkeypatch)
    with RunStore.open(db) as store:
        begin(store)
        store.finish_attempt(result())
    created = [s for s in statements if s.startswith("CREATE")]
    assert (created == []) is (copy == "made"), statements
    assert sorted(p.name for p in db.parent.iterdir()) == ["exp-1.db"]  # no partial copy left
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert [a.outcome for a in RunStore.open(db).attempts()] == [Outcome.SUCCEEDED]


def test_an_existing_store_is_never_replaced_by_a_new_copy(db: Path) -> None:
    """Two openers of a store that does not exist yet: the second finds the first's, rows and all."""
    first = RunStore.open(db)
    begin(first)
    assert not sqlite_engine.created_with_schema(db, SCHEMA_VERSION)
    assert [a.attempt for a in RunStore.open(db).attempts()] == [1]


# --- competing processes (spawned: nothing inherited from the test process) ---

_ADDED_SINCE = {
    3: ("error_tail", "pull_request_number", "pull_request_url"),
    4: ("pull_request_number", "pull_request_url"),
}


@pytest.mark.parametrize("version", sorted(_ADDED_SINCE))
def test_a_store_of_an_earlier_schema_is_upgraded_on_open(db: Path, version: int) -> None:
    with RunStore.open(db) as store:
        begin(store)
        store.finish_attempt(result(outcome=Outcome.FAILED, exit_code=1))
    with sqlite3.connect(db) as conn:  # as that version wrote it
        for column in _ADDED_SINCE[version]:
            conn.execute(f"ALTER TABLE attempts DROP COLUMN {column}")
        conn.execute(f"PRAGMA user_version = {version}")
    with RunStore.open(db) as store:
        store.finish_attempt(result(outcome=Outcome.FAILED, exit_code=1, error_tail="why"))
        [failed] = store.attempts()
        store.record_pull_request(failed, PullRequest(3, "https://github.example/o/r/pull/3"))
        [record] = store.attempts()
    assert (record.outcome, record.error_tail) == (Outcome.FAILED, "why")
    assert record.pull_request == PullRequest(3, "https://github.example/o/r/pull/3")
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)


def _claim() -> Claim:
    return Claim(
        batch_id="batch-1",
        run_id="exp-1",
        slug="exp-1",
        attempt=0,
        fencing_token=1,
        expires_at=T0,
        owner=LeaseOwner.here("w"),
        ttl=30.0,
        base_sha="a" * 40,
    )


def _open_files(path: Path) -> int:
    """How many of this process's descriptors have `path` open."""
    return sum(os.path.realpath(f"/proc/self/fd/{fd}") == str(path) for fd in os.listdir("/proc/self/fd"))


@pytest.mark.parametrize("between", ["nothing", "rewritten", "replaced", "removed"])
def test_a_runs_begin_and_finish_share_one_open_of_its_file_while_it_is_the_same_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, between: str
) -> None:
    """The finish writes through the begin's connection, unless the store at the path was replaced
    or removed meanwhile: then through a new one, so the result lands in the file readers find."""
    opened = _opened(monkeypatch)
    store = LocalStore(tmp_path / "runs")
    begun = store.begin_attempt(_claim(), at_least=1, started_at=T0, host="host-1")
    database = tmp_path / "runs" / "exp-1" / "exp-1.db"
    assert _open_files(database) == 1  # kept for the finish
    if between == "rewritten":  # in place, as a run's command may reset the store it is given
        with database.open("r+b") as file:
            file.truncate(0)
    elif between == "replaced":
        copy = database.with_name("copy.db")
        shutil.copyfile(database, copy)
        copy.replace(database)
    elif between == "removed":
        database.unlink()
    store.finish_attempt(begun, result())
    assert opened.count(database) == (1 if between in ("nothing", "rewritten") else 2)
    assert _open_files(database) == 0
    [recorded] = RunStore.open(database).attempts()
    assert recorded.outcome is Outcome.SUCCEEDED


def test_attempts_whose_finish_never_came_keep_one_file_open_a_thread_and_none_after_close(
    tmp_path: Path,
) -> None:
    store = LocalStore(tmp_path / "runs")
    slugs = [f"exp-{n}" for n in range(5)]
    for slug in slugs:  # each begun and never finished (an error between begin and record)
        store.begin_attempt(replace(_claim(), run_id=slug, slug=slug), at_least=1, started_at=T0, host="h")
    databases = [tmp_path / "runs" / slug / f"{slug}.db" for slug in slugs]
    assert [_open_files(database) for database in databases] == [0, 0, 0, 0, 1]
    threading.Thread(target=store.close).start()  # any thread may close them
    wait_for(lambda: _open_files(databases[-1]) == 0, what="the kept connection to close")
    store.begin_attempt(replace(_claim(), attempt=0), at_least=1, started_at=T0, host="h")
    assert _open_files(tmp_path / "runs" / "exp-1" / "exp-1.db") == 0  # a closed store keeps none


def test_a_run_never_recorded_has_no_previous_attempt_and_gets_no_file_for_asking(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:

    statements = _traced(monkeypatch)
    runs_dir = tmp_path / "runs"
    claim = _claim()
    store = LocalStore(runs_dir)
    assert store.previous_attempt(claim) is None
    assert not (runs_dir / "exp-1" / "exp-1.db").exists()  # the read of an empty file is spared
    begun = store.begin_attempt(claim, at_least=1, started_at=T0, host="host-1")
    # Its begin is one transaction: no attempt numbers are read from a file that did not exist.
    assert [s for s in statements if s.startswith("BEGIN")] == ["BEGIN IMMEDIATE"]
    assert not [s for s in statements if "max(" in s]
    store.finish_attempt(begun, result())
    previous = store.previous_attempt(claim)
    assert previous is not None
    assert previous.attempt == 1
    # A run recorded before is numbered after its attempts (read under the run's lock).
    again = store.begin_attempt(claim, at_least=1, started_at=T0 + timedelta(seconds=1), host="host-1")
    assert again.attempt == 2
    assert any("max(" in s for s in statements)
