"""`Records.runs_page`: one page of a batch's runs, filtered, sorted and paged where the runs are kept.

One suite over both stores (the `location` fixture: a runs dir of per-run SQLite files, then a real
PostgreSQL database, which answers in SQL), each written through its real `Store`. Every case also
checks the store against `page_of` over the batch's rows, the in-memory answer the report uses.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from parallel_runs.core.batch import BatchDefinition
from parallel_runs.core.command import CommandSpec
from parallel_runs.core.model import Attempt, Outcome, PullRequest, TestSummary
from parallel_runs.core.runs_query import SORTS, RunsPage, RunsQuery, page_of
from parallel_runs.report.rows import build_rows
from parallel_runs.store import LeaseOwner, Records
from tests.integration.postgres.helpers import Location

ME = LeaseOwner.here("runs-page-test")
T0 = datetime(2026, 5, 1, 2, 0, tzinfo=UTC)
REGRESSED = TestSummary(status="regressed", summary="+1", new_failures=("t::broken",))
PASSED = TestSummary(status="passed", summary="0")
PULLS = {
    name: PullRequest(number, f"https://github.example/o/r/pull/{number}")
    for name, number in [("eps", 12), ("zeta", 3)]
}


# Each run's attempts: (outcome, host, seconds it took, changed files, error, its tail, tests).
# Upper-case ids sort before lower-case ones by code point (not so in a locale's collation); ties on
# duration (10 s) and files (2) are broken by run id; `Delta` is still running.
Step = tuple[Outcome, str, int | None, int | None, str | None, str | None, TestSummary | None]
PLAN: dict[str, list[Step]] = {
    "alpha": [
        (Outcome.FAILED, "h1", 5, None, "first try", None, None),
        (Outcome.SUCCEEDED, "h1", 30, 2, None, None, None),
    ],
    "Beta": [(Outcome.FAILED, "h2", 10, None, "Boom: 100%_done", "Traceback\nKeyError: 'x'", None)],
    "gamma": [(Outcome.REGRESSED, "h1", 50, 0, None, None, REGRESSED)],
    "Delta": [(Outcome.RUNNING, "h2", None, None, None, None, None)],
    "eps": [(Outcome.SUCCEEDED, "h2", 10, 2, None, None, PASSED)],
    "zeta": [(Outcome.SUCCEEDED, "h3", 20, 1, None, None, None)],
}


def write(location: Location) -> tuple[BatchDefinition, dict[str, str]]:
    """The batch PLAN says, worked through the location's store; and each name's run id."""
    prefix = secrets.token_hex(3)
    ids = {name: f"{name}-{prefix}" for name in PLAN}
    batch = BatchDefinition(
        batch_id=f"page-{prefix}",
        run_ids=tuple(ids.values()),
        command=CommandSpec(argv=("true",)),
        base_sha="a" * 40,
    )
    store = location.store
    store.enqueue(batch)
    start = 0
    for name, plan in PLAN.items():  # claimed in batch order, each by a worker on the planned host
        owner = LeaseOwner(host=plan[0][1], pid=ME.pid, worker_id=ME.worker_id)
        claim = store.claim_next(batch_id=batch.batch_id, owner=owner, ttl=600)
        assert claim is not None
        assert claim.run_id == ids[name]
        for number, (outcome, host, seconds, files, error, tail, tests) in enumerate(plan, start=1):
            start += 1
            started = T0 + timedelta(minutes=start)
            claim = store.begin_attempt(claim, at_least=number, started_at=started, host=host)
            if outcome is Outcome.RUNNING:
                break
            result = Attempt(
                run_id=claim.run_id,
                slug=claim.slug,
                batch_id=batch.batch_id,
                attempt=claim.attempt,
                outcome=outcome,
                exit_code=0 if outcome is Outcome.SUCCEEDED else 1,
                started_at=started,
                finished_at=None if seconds is None else started + timedelta(seconds=seconds),
                base_sha=batch.base_sha,
                head_sha="c" * 40,
                branch=f"parallel-runs/{claim.slug}",
                host=host,
                pid=ME.pid,
                error=error,
                error_tail=tail,
                changed_files=files,
                tests=tests,
            )
            store.finish_attempt(claim, result)
            if name in PULLS:  # recorded by the action after the batch
                store.record_pull_request(result, PULLS[name])
            if number < len(plan):
                retried = store.retry(claim)
                assert retried is not None
                claim = retried
    return batch, ids


def page(records: Records, batch: BatchDefinition, **asked: object) -> RunsPage:
    """The store's page, checked against the in-memory answer over the batch's rows."""
    query = RunsQuery(**asked)  # type: ignore[arg-type]
    found = records.runs_page(batch.batch_id, query)
    expected = page_of(build_rows(records.attempts(batch.batch_id)), query)
    assert found == expected, query
    return found


def names(found: RunsPage) -> list[str]:
    return [row.latest.run_id.rsplit("-", 1)[0] for row in found.rows]


@pytest.fixture
def written(location: Location) -> Iterator[tuple[Records, BatchDefinition]]:
    batch, _ = write(location)
    with location.open() as records:
        yield records, batch


def test_each_run_is_its_latest_attempt_with_the_batchs_counts_and_hosts(
    written: tuple[Records, BatchDefinition],
) -> None:
    records, batch = written
    found = page(records, batch)
    assert names(found) == ["Beta", "Delta", "alpha", "eps", "gamma", "zeta"]  # by code point
    alpha = found.rows[2]
    assert (alpha.attempts, alpha.latest.attempt, alpha.latest.outcome) == (2, 2, Outcome.SUCCEEDED)
    assert found.rows[4].latest.tests == REGRESSED
    assert (found.matched, found.total, found.hosts, found.tested, found.pulled) == (
        6,
        6,
        ("h1", "h2", "h3"),
        True,
        True,
    )
    assert found.rows[3].latest.pull_request == PULLS["eps"]


@pytest.mark.parametrize(
    ("asked", "expected"),
    [
        ({"statuses": ("failed",)}, ["Beta"]),
        ({"statuses": ("succeeded", "running")}, ["Delta", "alpha", "eps", "zeta"]),
        ({"host": "h2"}, ["Beta", "Delta", "eps"]),
        ({"text": "BOOM"}, ["Beta"]),  # the error, any case
        ({"text": "keyerror: 'x'"}, ["Beta"]),  # the error's tail
        ({"text": "%_"}, ["Beta"]),  # LIKE's wildcards are plain characters
        ({"text": "parallel-runs/zeta"}, ["zeta"]),  # the branch
        ({"text": "h3"}, ["zeta"]),  # the host
        ({"text": "PULL/12"}, ["eps"]),  # the pull request's address
        ({"text": "first try"}, []),  # an earlier attempt's error: runs are their latest attempt
        ({"statuses": ("succeeded",), "host": "h1"}, ["alpha"]),
    ],
)
def test_filters(
    written: tuple[Records, BatchDefinition], asked: dict[str, object], expected: list[str]
) -> None:
    records, batch = written
    found = page(records, batch, **asked)
    assert names(found) == expected
    assert (found.matched, found.total) == (len(expected), 6)
    assert found.hosts == ("h1", "h2", "h3")  # the batch's, whatever the filter


@pytest.mark.parametrize("descending", [False, True])
@pytest.mark.parametrize("sort", SORTS)
def test_sorts_by_any_column_as_in_memory(
    written: tuple[Records, BatchDefinition], sort: str, descending: bool
) -> None:
    records, batch = written
    assert len(page(records, batch, sort=sort, descending=descending).rows) == 6


def test_missing_values_last_either_way_and_ties_by_run_id(written: tuple[Records, BatchDefinition]) -> None:
    records, batch = written
    assert names(page(records, batch, sort="duration")) == ["Beta", "eps", "zeta", "alpha", "gamma", "Delta"]
    assert names(page(records, batch, sort="duration", descending=True)) == [
        "gamma",
        "alpha",
        "zeta",
        "eps",
        "Beta",
        "Delta",
    ]
    assert names(page(records, batch, sort="files")) == ["gamma", "zeta", "alpha", "eps", "Beta", "Delta"]
    assert names(page(records, batch, sort="tests", descending=True)) == [
        "gamma",
        "eps",
        "zeta",
        "alpha",
        "Delta",
        "Beta",
    ]
    assert names(page(records, batch, sort="pull")) == ["zeta", "eps", "Beta", "Delta", "alpha", "gamma"]
    # In the order outcomes are declared; `title` is missing for every run: by run id alone.
    assert names(page(records, batch, sort="status"))[0] == "Delta"
    assert names(page(records, batch, sort="title", descending=True)) == [
        "zeta",
        "gamma",
        "eps",
        "alpha",
        "Delta",
        "Beta",
    ]


def test_pages(written: tuple[Records, BatchDefinition]) -> None:
    records, batch = written
    second = page(records, batch, sort="started", offset=2, limit=2)
    assert len(second.rows) == 2
    assert (second.matched, second.total) == (6, 6)
    past = page(records, batch, offset=6, limit=2)
    assert (past.rows, past.matched) == ([], 6)


def test_an_unknown_batch_is_an_empty_page(location: Location) -> None:
    with location.open() as records:
        found = records.runs_page("no-such-batch", RunsQuery())
    assert found == RunsPage(rows=[], matched=0, total=0, hosts=(), tested=False, pulled=False)
