"""The read side (`store.open_records` → `Records`): one suite over both implementations.

Each test runs twice, against a runs dir of real per-run SQLite files and against a real PostgreSQL
database, with the same body and the same expectations (as procrastinate tests its connectors).
The records are written through the real write path, the `Store` each location is written by:
enqueue, claim, begin, the attempt's files, keep_artifacts, finish, retry.
"""

from __future__ import annotations

import itertools
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from parallel_runs.core.batch import BatchDefinition
from parallel_runs.core.command import CommandSpec
from parallel_runs.core.layout import RunPaths
from parallel_runs.core.model import Attempt, Outcome, PullRequest, TestSummary
from parallel_runs.core.runlog import format_header, log_parts
from parallel_runs.errors import NotFoundError
from parallel_runs.log_reader import choose_part
from parallel_runs.store import LeaseOwner, RunLog, SharedStore
from tests.integration.postgres.helpers import Location

ME = LeaseOwner.here("records-test")
T0 = datetime(2026, 5, 1, 2, 0, tzinfo=UTC)
CLOCK = itertools.count(1)  # each attempt starts a minute after the one before
TESTS = TestSummary(
    status="regressed", summary="+1", new_failures=("t::broken",), messages=(("t::broken", "boom"),)
)


def new_batch(runs: int) -> BatchDefinition:
    """A batch whose ids no other test uses (the PostgreSQL database is shared by the session)."""
    prefix = secrets.token_hex(4)
    return BatchDefinition(
        batch_id=f"batch-{prefix}",
        run_ids=tuple(f"run-{prefix}-{n}" for n in range(runs)),
        command=CommandSpec(argv=("true",)),
        base_sha="a" * 40,
    )


def attempt_of(run_id: str, batch: BatchDefinition, number: int, outcome: Outcome) -> Attempt:
    started = T0 + timedelta(minutes=next(CLOCK))
    return Attempt(
        run_id=run_id,
        slug=run_id,
        batch_id=batch.batch_id,
        attempt=number,
        outcome=outcome,
        exit_code=0 if outcome is Outcome.SUCCEEDED else 1,
        started_at=started,
        finished_at=started + timedelta(seconds=30),
        base_sha=batch.base_sha,
        head_sha="c" * 40,
        branch=f"parallel-runs/{run_id}",
        host=ME.host,
        pid=ME.pid,
        tests=TESTS if outcome is Outcome.REGRESSED else None,
    )


def work(location: Location, batch: BatchDefinition, outcomes: dict[str, list[Outcome]]) -> list[Attempt]:
    """Queue the batch and work each run as the engine does: one attempt per outcome, in order.

    Returns the attempts written, by run id then number."""
    store, written = location.store, []
    store.enqueue(batch)
    for _ in batch.run_ids:
        claim = store.claim_next(batch_id=batch.batch_id, owner=ME, ttl=60)
        assert claim is not None
        paths = RunPaths(location.runs_dir, claim.slug)
        paths.artifacts.mkdir(parents=True, exist_ok=True)
        for index, outcome in enumerate(outcomes[claim.run_id]):
            claim = store.begin_attempt(claim, at_least=index + 1, started_at=T0, host="h")
            log_from = paths.run_log.stat().st_size if paths.run_log.exists() else 0
            with paths.run_log.open("a", encoding="utf-8") as log:
                log.write(format_header(claim.attempt, T0, "true"))
                log.write(f"output of {claim.run_id} attempt {claim.attempt}\n")
            paths.result_json.write_text(f'{{"attempt": {claim.attempt}}}\n', encoding="utf-8")
            result = attempt_of(claim.run_id, batch, claim.attempt, outcome)
            written.append(result)
            store.keep_artifacts(claim, paths.artifacts, log_from=log_from)
            store.finish_attempt(claim, result)
            if index + 1 < len(outcomes[claim.run_id]):
                retried = store.retry(claim)
                assert retried is not None
                claim = retried
    return sorted(written, key=lambda x: (x.run_id, x.attempt))


def read_part(log: RunLog) -> str:
    """The text of the part `log` names, as `logs` prints it (header line included)."""
    with log.stream as stream:
        part = choose_part(log_parts(stream), log.attempt)
        assert part is not None
        stream.seek(part.start)
        data = stream.read() if part.end is None else stream.read(part.end - part.start)
    return data.decode()


Worked = tuple[BatchDefinition, BatchDefinition, list[Attempt]]


@pytest.fixture
def worked(location: Location) -> Worked:
    """Two batches: the first has a run that failed then succeeded and one that regressed.

    Returns both, and the attempts written in the first."""
    first, second = new_batch(2), new_batch(1)
    a, b = first.run_ids
    written = work(location, first, {a: [Outcome.FAILED, Outcome.SUCCEEDED], b: [Outcome.REGRESSED]})
    work(location, second, {second.run_ids[0]: [Outcome.SUCCEEDED]})
    return first, second, written


def test_attempts_of_a_batch_and_of_every_batch(location: Location, worked: Worked) -> None:
    first, second, written = worked
    a, b = first.run_ids
    with location.open() as records:
        got = records.attempts(first.batch_id)
        every = {(x.run_id, x.attempt) for x in records.attempts()}
    assert [(x.run_id, x.attempt, x.outcome) for x in got] == [
        (a, 1, Outcome.FAILED),
        (a, 2, Outcome.SUCCEEDED),
        (b, 1, Outcome.REGRESSED),
    ]
    assert got == written  # the frozen model, field for field
    assert got[2].tests == TESTS  # with its test summary
    assert every >= {(a, 1), (a, 2), (b, 1), (second.run_ids[0], 1)}


def test_a_runs_attempts_by_number(location: Location, worked: Worked) -> None:
    a = worked[0].run_ids[0]
    with location.open() as records:
        assert [(x.attempt, x.outcome) for x in records.run_attempts(a)] == [
            (1, Outcome.FAILED),
            (2, Outcome.SUCCEEDED),
        ]
        assert records.run_attempts("no-such-run") == []


def test_a_pull_request_recorded_after_the_batch_is_read_back_on_its_attempt(
    location: Location, worked: Worked
) -> None:
    first, _, written = worked
    a = first.run_ids[0]
    succeeded = next(x for x in written if x.run_id == a and x.outcome is Outcome.SUCCEEDED)
    location.store.record_pull_request(succeeded, PullRequest(12, "https://github.example/o/r/pull/12"))
    with location.open() as records:
        by_number = {x.attempt: x.pull_request for x in records.run_attempts(a)}
        in_batch = {(x.run_id, x.attempt): x.pull_request for x in records.attempts(first.batch_id)}
    assert by_number == {1: None, 2: PullRequest(12, "https://github.example/o/r/pull/12")}
    assert in_batch[(a, 2)] == by_number[2]
    assert in_batch[(first.run_ids[1], 1)] is None


def test_batches_counted_by_the_latest_attempt_of_each_run_oldest_first(
    location: Location, worked: Worked
) -> None:
    first, second, _ = worked
    with location.open() as records:
        ours = [s for s in records.batches() if s.batch_id in {first.batch_id, second.batch_id}]
    assert [(s.batch_id, s.counts, s.refused, s.hosts) for s in ours] == [
        (first.batch_id, {"succeeded": 1, "regressed": 1}, None, (ME.host,)),  # the hosts its attempts ran on
        (second.batch_id, {"succeeded": 1}, None, (ME.host,)),
    ]


def test_a_batch_definition_where_the_location_keeps_it(location: Location, worked: Worked) -> None:
    first = worked[0]
    with location.open() as records:
        expected = first if records.keeps_definitions else None
        assert records.batch(first.batch_id) == expected
        assert records.batch("no-such-batch") is None


def test_a_runs_log_by_attempt(location: Location, worked: Worked) -> None:
    first = worked[0]
    a = first.run_ids[0]
    with location.open() as records:
        latest = read_part(records.run_log(a, batch_id=None, attempt=None))
        earlier = read_part(records.run_log(a, batch_id=None, attempt=1))
        in_batch = read_part(records.run_log(a, batch_id=first.batch_id, attempt=None))
        ended = records.run_log(a, batch_id=None, attempt=2)
        ended.stream.close()
        assert ended.watch(2)()  # a follower stops: the attempt ended
        with pytest.raises(NotFoundError, match="no such run 'no-such-run'"):
            records.run_log("no-such-run", batch_id=None, attempt=None)
        with pytest.raises(NotFoundError, match="has no attempt in batch"):
            records.run_log(a, batch_id="no-such-batch", attempt=None)
    assert latest == in_batch == format_header(2, T0, "true") + f"output of {a} attempt 2\n"
    assert earlier == format_header(1, T0, "true") + f"output of {a} attempt 1\n"


def test_artifacts_listed_opened_and_copied(location: Location, worked: Worked, tmp_path: Path) -> None:
    a = worked[0].run_ids[0]
    with location.open() as records:
        files = records.artifacts(a, batch_id=None, attempt=None)
        assert {(f.name, f.attempt) for f in files} == {("run.log", 2), ("result.json", 2)}
        [result] = [f for f in files if f.name == "result.json"]
        with records.open_artifact(result) as stream:
            assert stream.read() == b'{"attempt": 2}\n'
        records.copy_artifact(result, tmp_path / "copy.json")
        with pytest.raises(NotFoundError, match="no such run 'no-such-run'"):
            records.artifacts("no-such-run", batch_id=None, attempt=None)
    assert (tmp_path / "copy.json").read_bytes() == b'{"attempt": 2}\n'
    assert not list(tmp_path.glob(".copy.json*"))  # the partial file was renamed into place


def test_events_are_the_runs_own_oldest_first(location: Location, worked: Worked) -> None:
    a = worked[0].run_ids[0]
    with location.open() as records:
        events = records.events(a)
    assert {event.run_id for event in events} <= {a}
    assert {event.attempt for event in events} <= {1, 2}
    assert [event.at for event in events] == sorted(event.at for event in events)


def test_an_unknown_batch_is_named_where_it_was_looked_for(location: Location) -> None:
    with location.open() as records:
        assert records.attempts("no-such-batch") == []
        error = records.not_found("no such batch 'no-such-batch'")
    assert str(error).startswith("no such batch 'no-such-batch'")
    assert isinstance(error, NotFoundError)


# --- what only one implementation does ---------------------------------------------------------


def test_the_shared_store_records_a_claim_event(database_url: str, tmp_path: Path) -> None:
    with SharedStore.connect(database_url, spool_dir=tmp_path / "spool") as store:
        location = Location(store, tmp_path / "runs", database_url)
        batch = new_batch(1)
        work(location, batch, {batch.run_ids[0]: [Outcome.SUCCEEDED]})
        with location.open() as records:
            events = records.events(batch.run_ids[0])
    assert events
    assert all(event.attempt == 1 for event in events)
