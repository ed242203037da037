"""The dashboard's pure views: the query in the URL, server-side filtering, sorting and paging, the
batch's state, the timeline by host (`report/views.py`)."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from parallel_runs.core.batch import BatchSummary
from parallel_runs.core.model import Attempt, Outcome, PullRequest, TestSummary
from parallel_runs.core.runs_query import page_of
from parallel_runs.errors import ConfigError
from parallel_runs.report.rows import RunRow
from parallel_runs.report.timeline import lanes
from parallel_runs.report.views import Page, Query, batch_state

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def row(
    run_id: str, outcome: Outcome, *, start: int = 0, seconds: int | None = 10, host: str = "a"
) -> RunRow:
    started = T0 + timedelta(seconds=start)
    tests = (
        TestSummary(status="regressed", summary="+2", new_failures=("t1", "t2")) if run_id == "r" else None
    )
    attempt = Attempt(
        run_id=run_id,
        slug=run_id,
        batch_id="b",
        attempt=1,
        outcome=outcome,
        exit_code=0,
        started_at=started,
        finished_at=None if seconds is None else started + timedelta(seconds=seconds),
        base_sha="a" * 40,
        head_sha=None,
        branch=f"parallel-runs/{run_id}",
        host=host,
        pid=1,
        error="Boom in the agent" if outcome is Outcome.FAILED else None,
        tests=tests,
    )
    return RunRow(attempt, 1)


ROWS = [
    row("s1", Outcome.SUCCEEDED, start=0, seconds=30),
    row("f", Outcome.FAILED, start=5, seconds=5, host="b"),
    row("r", Outcome.REGRESSED, start=10, seconds=50),
    row("run", Outcome.RUNNING, start=20, seconds=None, host="b"),
]


def ids(query: Query) -> list[str]:
    return [r.latest.run_id for r in page_of(ROWS, query.runs()).rows]


def test_filters_by_status_host_and_text() -> None:
    assert ids(Query(status="failed")) == ["f"]
    assert ids(Query(host="b")) == ["f", "run"]
    assert ids(Query(text="boom")) == ["f"]  # the error, any case
    assert ids(Query(text="parallel-runs/s1")) == ["s1"]  # the branch
    assert ids(Query(status="failed", host="a")) == []


def test_sorts_by_any_column_with_missing_values_last_either_way() -> None:
    assert ids(Query(sort="duration")) == ["f", "s1", "r", "run"]
    assert ids(Query(sort="duration", descending=True)) == ["r", "s1", "f", "run"]
    assert ids(Query(sort="tests", descending=True))[0] == "r"
    assert ids(Query(sort="status")) == ["run", "s1", "f", "r"]  # in the order outcomes are declared


def test_pull_requests_sort_by_number_and_are_found_by_their_address() -> None:
    def pulled(run_id: str, number: int) -> RunRow:
        found = row(run_id, Outcome.SUCCEEDED)
        url = f"https://github.example/o/r/pull/{number}"
        return replace(found, latest=replace(found.latest, pull_request=PullRequest(number, url)))

    rows = [pulled("p9", 9), row("none", Outcome.FAILED), pulled("p10", 10)]
    assert [r.latest.run_id for r in page_of(rows, Query(sort="pull").runs()).rows] == ["p9", "p10", "none"]
    descending = page_of(rows, Query(sort="pull", descending=True).runs()).rows
    assert [r.latest.run_id for r in descending] == ["p10", "p9", "none"]  # without one: last either way
    assert [r.latest.run_id for r in page_of(rows, Query(text="pull/10").runs()).rows] == ["p10"]


def test_pages_on_the_server() -> None:
    query = Query(per_page=3, page=2)
    page = Page.of(page_of(ROWS, query.runs()), query)
    assert [r.latest.run_id for r in page.rows] == ["s1"]
    assert (page.matched, page.total, page.pages) == (4, 4, 2)


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"sort": "x"}, "sort='x' is not one of"),
        ({"order": "up"}, "order='up'"),
        ({"page": "0"}, "page='0' is not a number from 1"),
        ({"per_page": "100000"}, "per_page='100000'"),
        ({"page": "-1"}, "page='-1'"),
    ],
)
def test_a_bad_query_is_a_config_error(params: dict[str, str], words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        Query.parse(params)


def test_a_query_round_trips_through_its_url_parameters() -> None:
    query = Query.parse({"status": "failed", "q": "x", "sort": "duration", "order": "desc", "page": "2"})
    assert Query.parse(query.params()) == query
    assert Query().params() == {}
    assert query.params(page="") == {"status": "failed", "q": "x", "sort": "duration", "order": "desc"}


def test_the_state_of_a_batch() -> None:
    def state(counts: dict[str, int], *, worked_on: bool = False, refused: str | None = None) -> str:
        summary = BatchSummary(batch_id="b", counts=counts, first=T0, last=T0, refused=refused)
        return batch_state(summary, worked_on=worked_on).state

    assert state({"queued": 3}) == "queued"
    assert state({"queued": 2, "succeeded": 1}) == "running"
    assert state({"running": 1, "failed": 1}) == "running"
    assert state({"succeeded": 2}) == "ended"
    assert state({"succeeded": 2}, worked_on=True) == "running"  # a runs dir's batch between two runs
    assert state({"not_started": 2}, refused="no test passes") == "refused"


def test_the_timeline_puts_runs_side_by_side_on_their_host_without_overlap() -> None:
    found = {lane.host: lane for lane in lanes(ROWS, now=T0 + timedelta(seconds=60))}
    assert sorted(found) == ["a", "b"]
    assert [[bar.run_id for bar in slot] for slot in found["a"].slots] == [["s1"], ["r"]]  # overlapping
    assert [[bar.run_id for bar in slot] for slot in found["b"].slots] == [
        ["f", "run"]
    ]  # one after the other
    for lane in found.values():
        for slot in lane.slots:
            for before, after in itertools.pairwise(slot):
                assert before.left + before.width <= after.left
    assert lanes([], now=T0) == []
