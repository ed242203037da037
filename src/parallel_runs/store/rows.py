"""Rows become frozen Attempts at the store's boundary: the one query shape every store reads them with."""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import Row, Select, Update, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from parallel_runs.core.model import Attempt, Outcome, PullRequest, TestSummary
from parallel_runs.store.models import AttemptModel, RunModel

__all__ = ["attempt_from_row", "read_attempts", "record_pull_request", "select_attempts"]


def attempt_from_row(row: AttemptModel | Row[Any], *, slug: str) -> Attempt:
    """The frozen Attempt a row (an ORM one, or `select_attempts`') stands for: rows never leave the store."""
    return Attempt(
        run_id=row.run_id,
        slug=slug,
        attempt=row.attempt,
        batch_id=row.batch_id,
        outcome=Outcome(row.status),
        exit_code=row.exit_code,
        started_at=row.started_at,
        finished_at=row.finished_at,
        base_sha=row.base_sha,
        head_sha=row.head_sha,
        branch=row.branch,
        host=row.host,
        pid=row.pid,
        error=row.error,
        error_tail=row.error_tail,
        changed_files=row.changed_files,
        tests=TestSummary.from_json(row.tests) if row.tests else None,
        pull_request=(
            PullRequest(row.pull_request_number, row.pull_request_url)
            if row.pull_request_number is not None and row.pull_request_url is not None
            else None
        ),
    )


def record_pull_request(attempt: Attempt, pull: PullRequest) -> Update:
    """The one statement both stores record an attempt's pull request with (its run's latest)."""
    return (
        update(AttemptModel)
        .where(AttemptModel.run_id == attempt.run_id, AttemptModel.attempt == attempt.attempt)
        .values(pull_request_number=pull.number, pull_request_url=pull.url)
    )


@functools.cache
def select_attempts() -> Select[Any]:
    """Attempts with their run's slug: add filters and an order, then read them with `read_attempts`.

    Plain columns, not ORM objects: a read of a few rows costs a quarter as much (each run's store is
    read after every write, for the runs dir's index). Built once: a Select is never changed in
    place, each filter makes a new one."""
    columns = (*AttemptModel.__table__.columns, RunModel.slug)
    return select(*columns).join(RunModel, RunModel.run_id == AttemptModel.run_id)


def read_attempts(reader: Session | Connection, query: Select[Any]) -> list[Attempt]:
    """The attempts a `select_attempts` query finds, in its order."""
    return [attempt_from_row(row, slug=row.slug) for row in reader.execute(query)]
