"""`Records.runs_page` in SQL for the shared store: a batch's runs filtered, sorted and paged by
PostgreSQL, so a page of a 10,000-run batch reads its 100 rows, not 10,000 (see `core/runs_query.py`
for what a page is; this module answers exactly as its `page_of` does)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_, case, distinct, func, literal, or_, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, aliased

from parallel_runs.core.runs_query import STATUS_ORDER, RunsPage, RunsQuery
from parallel_runs.store.models import AttemptModel, RunModel
from parallel_runs.store.rows import attempt_from_row

__all__ = ["read_runs_page"]


def _latest(batch_id: str) -> Any:
    """The batch's attempts, each with its run's number of attempts in the batch and its rank (1: latest)."""
    return (
        select(
            AttemptModel,
            func.count().over(partition_by=AttemptModel.run_id).label("tries"),
            func.row_number()
            .over(partition_by=AttemptModel.run_id, order_by=AttemptModel.attempt.desc())
            .label("rank"),
        )
        .where(AttemptModel.batch_id == batch_id)
        .subquery("latest")
    )


def _filters(latest: Any, query: RunsQuery) -> ColumnElement[bool]:
    chosen: list[ColumnElement[bool]] = []
    if query.statuses:
        chosen.append(latest.status.in_(query.statuses))
    if query.host:
        chosen.append(latest.host == query.host)
    if query.text:
        columns = (
            latest.run_id,
            latest.branch,
            latest.host,
            latest.error,
            latest.error_tail,
            _pull(latest, "url"),
        )
        chosen.append(or_(*(column.icontains(query.text, autoescape=True) for column in columns)))
    return and_(literal(True), *chosen)


def _pull(latest: Any, field: str) -> ColumnElement[Any]:
    """The attempt's pull request's `number` or `url`: NULL unless both are recorded (`rows.py`)."""
    number, url = latest.pull_request_number, latest.pull_request_url
    recorded = and_(number.is_not(None), url.is_not(None))
    return case((recorded, number if field == "number" else url))


def _sort_key(latest: Any, tries: Any, sort: str) -> ColumnElement[Any] | None:
    """The SQL of `runs_query._KEYS[sort]`; strings in code point order (COLLATE "C"), as Python's;
    None for titles, which are not stored with attempts: every run's is missing."""
    failures = latest.tests["new_failures"]
    keys: dict[str, ColumnElement[Any]] = {
        "run": latest.run_id.collate("C"),
        "status": case(
            {value: index for index, value in enumerate(STATUS_ORDER)},
            value=latest.status,
            else_=len(STATUS_ORDER),
        ),
        "attempts": tries,
        "exit": latest.exit_code,
        "duration": latest.finished_at - latest.started_at,
        "files": latest.changed_files,
        "tests": case(
            (func.json_typeof(failures) == "array", func.json_array_length(failures)),
            (func.json_typeof(latest.tests) == "object", 0),
        ),
        "host": latest.host.collate("C"),
        "started": latest.started_at,
        "branch": latest.branch.collate("C"),
        "pull": _pull(latest, "number"),
    }
    return keys.get(sort)


def read_runs_page(conn: Connection, batch_id: str, query: RunsQuery) -> RunsPage:
    """One page of the batch's runs (their latest attempts), with the counts and hosts of the batch."""
    from parallel_runs.report.rows import RunRow  # noqa: PLC0415 - the report's renderers load with it

    ranked = _latest(batch_id)
    latest = aliased(AttemptModel, ranked)
    is_latest = ranked.c.rank == 1
    matching = _filters(latest, query)
    total, matched, hosts, tested, pulled = conn.execute(
        select(
            func.count(),
            func.count().filter(matching),
            func.array_agg(distinct(latest.host)),
            func.bool_or(func.json_typeof(latest.tests) == "object"),
            func.bool_or(_pull(latest, "number").is_not(None)),
        )
        .select_from(ranked)
        .where(is_latest)
    ).one()
    key = _sort_key(latest, ranked.c.tries, query.sort)
    run_order = latest.run_id.collate("C")
    keys = [run_order] if key is None else [key, run_order]
    order = [(k.desc() if query.descending else k.asc()).nulls_last() for k in keys]
    page = (
        select(latest, RunModel.slug, ranked.c.tries)
        .join(RunModel, RunModel.run_id == latest.run_id)
        .where(is_latest, matching)
        .order_by(*order)
        .offset(query.offset)
        .limit(query.limit)
    )
    with Session(conn) as session:
        rows = [RunRow(attempt_from_row(row, slug=slug), tries) for row, slug, tries in session.execute(page)]
    return RunsPage(
        rows=rows,
        matched=matched,
        total=total,
        hosts=tuple(sorted(hosts or ())),
        tested=bool(tested),
        pulled=bool(pulled),
    )
