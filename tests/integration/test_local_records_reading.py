"""A runs dir's read side for a long-lived reader (the dashboard): it reads again only the store files
that changed, yet never misses a change; and it tells while a `run` works the runs dir."""

from __future__ import annotations

import dataclasses
import os
import sqlite3
import time
from pathlib import Path

from parallel_runs import git
from parallel_runs.core.layout import git_state_dir
from parallel_runs.core.model import Outcome
from parallel_runs.core.runs_query import RunsQuery
from parallel_runs.store import LocalStore, open_records
from tests.integration.postgres.conftest import database_url
from tests.integration.postgres.helpers import Location
from tests.integration.postgres.test_records import new_batch, work

__all__ = ["database_url"]  # the session's PostgreSQL database


def age(path: Path, seconds: float) -> None:
    """Make the file look written `seconds` ago (past the time a fresh file is always read again)."""
    when = time.time() - seconds
    os.utime(path, (when, when))


def test_a_store_that_changed_after_it_was_read_is_read_again(tmp_path: Path) -> None:
    runs_dir = tmp_path / "runs"
    store = LocalStore(runs_dir)
    batch = new_batch(2)
    a, b = batch.run_ids
    work(Location(store, runs_dir, runs_dir), batch, {a: [Outcome.FAILED], b: [Outcome.SUCCEEDED]})
    databases = sorted(runs_dir.glob("*/*.db"))
    for database in databases:
        age(database, 60)
    with open_records(runs_dir) as records:
        first = [(x.run_id, x.attempt, x.outcome) for x in records.attempts(batch.batch_id)]
        assert first == [(a, 1, Outcome.FAILED), (b, 1, Outcome.SUCCEEDED)]
        rerun = dataclasses.replace(batch, run_ids=(a,))  # `run` again, in another process: a new queue
        work(Location(LocalStore(runs_dir), runs_dir, runs_dir), rerun, {a: [Outcome.SUCCEEDED]})
        age(next(path for path in databases if path.parent.name == a), 30)  # old, but not as it was read
        second = [(x.run_id, x.attempt, x.outcome) for x in records.attempts(batch.batch_id)]
    assert second == [(a, 1, Outcome.FAILED), (a, 2, Outcome.SUCCEEDED), (b, 1, Outcome.SUCCEEDED)]


def test_a_runs_dir_is_worked_while_a_run_holds_its_git_state_record(repo: Path, tmp_path: Path) -> None:
    runs_dir = tmp_path / "runs"
    with open_records(runs_dir) as records:
        assert not records.is_worked_here()  # nothing ran here yet
        shared = git.SharedState.snapshot(repo)
        shared.record(git_state_dir(runs_dir) / "host-1.json")  # as `run` does while it works
        try:
            assert records.is_worked_here()
        finally:
            shared.forget()
        assert not records.is_worked_here()
        # A record its process left behind (killed) is not held: nobody works the runs dir.
        (git_state_dir(runs_dir) / "host-2.json").write_text("{}")
        assert not records.is_worked_here()


def test_the_shared_store_says_no_batch_is_worked_here(database_url: str) -> None:
    with open_records(database_url) as records:
        assert not records.is_worked_here()


def test_a_page_of_runs_shows_a_store_that_changed_after_it_was_paged(tmp_path: Path) -> None:
    runs_dir = tmp_path / "runs"
    batch = new_batch(2)
    a, b = batch.run_ids
    work(
        Location(LocalStore(runs_dir), runs_dir, runs_dir),
        batch,
        {a: [Outcome.FAILED], b: [Outcome.SUCCEEDED]},
    )
    databases = sorted(runs_dir.glob("*/*.db"))
    for database in databases:
        age(database, 60)
    with open_records(runs_dir) as records:
        first = records.runs_page(batch.batch_id, RunsQuery())
        assert [(r.latest.run_id, r.latest.outcome, r.attempts) for r in first.rows] == [
            (a, Outcome.FAILED, 1),
            (b, Outcome.SUCCEEDED, 1),
        ]
        rerun = dataclasses.replace(batch, run_ids=(a,))
        work(Location(LocalStore(runs_dir), runs_dir, runs_dir), rerun, {a: [Outcome.SUCCEEDED]})
        age(next(path for path in databases if path.parent.name == a), 30)  # old, but not as it was read
        second = records.runs_page(batch.batch_id, RunsQuery(statuses=("succeeded",)))
    assert [(r.latest.run_id, r.latest.outcome, r.attempts) for r in second.rows] == [
        (a, Outcome.SUCCEEDED, 2),
        (b, Outcome.SUCCEEDED, 1),
    ]


def test_a_store_written_again_within_its_clock_tick_is_read_again(tmp_path: Path) -> None:
    runs_dir = tmp_path / "runs"
    batch = new_batch(1)
    [run_id] = batch.run_ids
    work(Location(LocalStore(runs_dir), runs_dir, runs_dir), batch, {run_id: [Outcome.FAILED]})
    [database] = runs_dir.glob("*/*.db")
    os.utime(database)  # written just now, as the write this test reads right after
    before = os.stat(database)
    with open_records(runs_dir) as records:
        assert records.attempts()[0].host != "elsewhere"
        with sqlite3.connect(database) as conn:
            conn.execute("UPDATE attempts SET host = 'elsewhere'")
        conn.close()
        os.utime(database, ns=(before.st_atime_ns, before.st_mtime_ns))  # as if in the same clock tick
        assert (os.stat(database).st_size, os.stat(database).st_ino) == (before.st_size, before.st_ino)
        assert records.attempts()[0].host == "elsewhere"  # SQLite's change counter tells
