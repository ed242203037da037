"""The runs dir's index (`store/local_index.py`): each per-run store's write is indexed, a reader
takes a store's attempts from the index while the store is as indexed, and from its SQLite file
otherwise (changed since, no index, a cut-short or foreign line), so the index never decides an
answer the store's file would not give."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from parallel_runs.core.layout import index_path
from parallel_runs.core.model import Attempt, Outcome, PullRequest, TestSummary
from parallel_runs.store import LocalStore, RunStore, open_records
from tests.integration.postgres.helpers import Location
from tests.integration.postgres.test_records import new_batch, work

FROM_INDEX = "host-from-the-index"  # a host no store holds: an answer that came from the index


def worked(runs_dir: Path) -> tuple[str, list[Attempt]]:
    """A batch of two runs (one retried) written by the runs dir's store; its id and attempts."""
    batch = new_batch(2)
    a, b = batch.run_ids
    outcomes = {a: [Outcome.FAILED, Outcome.SUCCEEDED], b: [Outcome.REGRESSED]}
    return batch.batch_id, work(Location(LocalStore(runs_dir), runs_dir, runs_dir), batch, outcomes)


def rewrite_index(runs_dir: Path, batch_id: str, change: dict[str, object]) -> None:
    """Change every attempt in the batch's index lines, keeping each line's store key."""
    path = index_path(runs_dir, batch_id)
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        *head, attempts = line.split("\t")
        changed = [document | change for document in json.loads(attempts)]
        lines.append("\t".join([*head, json.dumps(changed)]))
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")


def read(runs_dir: Path, batch_id: str) -> list[Attempt]:
    with open_records(runs_dir) as records:
        return records.attempts(batch_id)


def test_an_attempt_round_trips_through_its_json() -> None:
    started = datetime(2026, 5, 1, 2, 0, 0, 123456, tzinfo=UTC)
    attempt = Attempt(
        run_id="r",
        slug="r",
        batch_id="b",
        attempt=2,
        outcome=Outcome.REGRESSED,
        exit_code=1,
        started_at=started,
        finished_at=started + timedelta(seconds=3.5),
        base_sha="a" * 40,
        head_sha=None,
        branch="parallel-runs/r",
        host="h",
        pid=7,
        error="e\nwith <b>",
        error_tail="tail",
        changed_files=0,
        tests=TestSummary(status="regressed", summary="+1", new_failures=("t",), messages=(("t", "m"),)),
        stray_processes=1,
        restored_files=("x",),
        pull_request=PullRequest(7, "https://github.example/o/r/pull/7"),
    )
    assert Attempt.from_json(json.loads(json.dumps(attempt.record_json()))) == attempt
    running = dataclasses.replace(attempt, finished_at=None, tests=None, head_sha="c" * 40, pull_request=None)
    assert Attempt.from_json(running.record_json()) == running


def test_each_write_is_indexed_and_read_back_as_the_store_holds_it(tmp_path: Path) -> None:
    runs_dir = tmp_path / "runs"
    batch_id, written = worked(runs_dir)
    assert index_path(runs_dir, batch_id).is_file()
    assert read(runs_dir, batch_id) == written  # from the index, field for field
    rewrite_index(runs_dir, batch_id, {"host": FROM_INDEX})
    assert {a.host for a in read(runs_dir, batch_id)} == {FROM_INDEX}  # the index was what was read


def test_a_store_changed_since_its_line_is_read_from_its_file(tmp_path: Path) -> None:
    runs_dir = tmp_path / "runs"
    batch_id, written = worked(runs_dir)
    rewrite_index(runs_dir, batch_id, {"host": FROM_INDEX})
    changed = written[0]
    database = runs_dir / changed.slug / f"{changed.slug}.db"
    with sqlite3.connect(database) as conn:  # a writer that does not index (an older version, say)
        conn.execute("UPDATE attempts SET error = 'changed unindexed'")
    conn.close()
    found = {a.run_id: a for a in read(runs_dir, batch_id)}
    assert found[changed.run_id].error == "changed unindexed"
    assert found[changed.run_id].host != FROM_INDEX  # its stale line was ignored
    others = [a for a in found.values() if a.run_id != changed.run_id]
    assert {a.host for a in others} == {FROM_INDEX}  # the others' lines still hold


@pytest.mark.parametrize(
    "damage",
    [
        lambda path: path.unlink(),  # no index: a runs dir an older version wrote
        lambda path: path.write_text("not\tan\tindex\n\x00garbage\n", encoding="utf-8"),
        lambda path: path.write_bytes(path.read_bytes()[:-40]),  # the last line cut short
        lambda path: path.write_text(
            "".join(f"{line.rsplit(chr(9), 1)[0]}\t[{{}}]\n" for line in path.read_text().splitlines())
        ),  # lines whose attempts are not attempts
    ],
    ids=["missing", "garbage", "cut-short", "foreign"],
)
def test_a_missing_or_broken_index_costs_a_read_never_an_answer(tmp_path: Path, damage: object) -> None:
    runs_dir = tmp_path / "runs"
    batch_id, written = worked(runs_dir)
    damage(index_path(runs_dir, batch_id))  # type: ignore[operator]
    assert read(runs_dir, batch_id) == written


def test_a_run_again_in_a_later_batch_is_read_from_its_latest_line(tmp_path: Path) -> None:
    runs_dir = tmp_path / "runs"
    batch = new_batch(1)
    [run_id] = batch.run_ids
    work(Location(LocalStore(runs_dir), runs_dir, runs_dir), batch, {run_id: [Outcome.FAILED]})
    later = dataclasses.replace(batch, batch_id=f"{batch.batch_id}-again")
    work(Location(LocalStore(runs_dir), runs_dir, runs_dir), later, {run_id: [Outcome.SUCCEEDED]})
    rewrite_index(runs_dir, batch.batch_id, {"host": FROM_INDEX})  # the earlier batch's lines: stale
    with open_records(runs_dir) as records:
        got = [(a.batch_id, a.attempt, a.outcome, a.host == FROM_INDEX) for a in records.attempts()]
    assert got == [(batch.batch_id, 1, Outcome.FAILED, False), (later.batch_id, 2, Outcome.SUCCEEDED, False)]


def test_a_long_lived_reader_takes_lines_appended_after_it_started(tmp_path: Path) -> None:
    runs_dir = tmp_path / "runs"
    batch_id, _ = worked(runs_dir)
    with open_records(runs_dir) as records:
        assert len(records.attempts(batch_id)) == 3
        again_id, _ = worked(runs_dir)  # another batch, written while the reader lives
        rewrite_index(runs_dir, again_id, {"host": FROM_INDEX})
        assert {a.host for a in records.attempts(again_id)} == {FROM_INDEX}


def test_a_running_attempt_is_read_from_its_store(tmp_path: Path) -> None:
    runs_dir = tmp_path / "runs"
    batch_id, written = worked(runs_dir)
    rewrite_index(runs_dir, batch_id, {"host": FROM_INDEX})
    last = written[-1]
    database = runs_dir / last.slug / f"{last.slug}.db"
    with RunStore.open(database, indexed_in=runs_dir) as store:  # a begin is not indexed: few run at once
        store.begin_attempt(
            run_id=last.run_id,
            slug=last.slug,
            batch_id=batch_id,
            attempt=last.attempt + 1,
            base_sha=last.base_sha,
            branch=last.branch,
            host="here",
            pid=1,
            started_at=last.started_at + timedelta(hours=1),
        )
    found = [(a.attempt, a.outcome, a.host) for a in read(runs_dir, batch_id) if a.run_id == last.run_id]
    assert found == [(last.attempt, last.outcome, last.host), (last.attempt + 1, Outcome.RUNNING, "here")]
