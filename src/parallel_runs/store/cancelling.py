"""`parallel-runs cancel`: a shared batch stops everywhere (statements run in the caller's transaction).

The batch is marked cancelled (every worker sees it within one heartbeat and stops its runs, which
end `cancelled` with their changes saved), and its queued runs are recorded `not_started` at once,
so the report tells the whole batch even when no worker is left to do it.
"""

from __future__ import annotations

import os
import socket
from typing import cast

from sqlalchemy import Table, bindparam, func, insert, select, update
from sqlalchemy.engine import Connection

from parallel_runs.core.layout import branch_name
from parallel_runs.core.model import Outcome
from parallel_runs.store.leases import ATTEMPTS, FINISHED, LEASES, NOW, PENDING
from parallel_runs.store.models import BatchModel, RunModel

__all__ = ["cancel_batch", "is_cancelled"]

_BATCHES = cast(Table, BatchModel.__table__)
_RUNS = cast(Table, RunModel.__table__)
_MARK = (
    update(_BATCHES)
    .where(_BATCHES.c.batch_id == bindparam("p_batch"))
    .values(cancelled_at=func.coalesce(_BATCHES.c.cancelled_at, NOW))
    .returning(_BATCHES.c.base_sha)
)
_SETTLE_QUEUED = (
    update(LEASES)
    .where(LEASES.c.batch_id == bindparam("p_batch"), LEASES.c.state == PENDING)
    .values(state=FINISHED, outcome=Outcome.NOT_STARTED.value, finished_at=NOW)
    .returning(LEASES.c.run_id)
)
_NEXT_ATTEMPT = (
    select(func.coalesce(func.max(ATTEMPTS.c.attempt), 0) + 1)
    .where(ATTEMPTS.c.run_id == bindparam("p_run"))
    .scalar_subquery()
)
_NOT_STARTED = insert(ATTEMPTS).values(
    run_id=bindparam("p_run"),
    attempt=_NEXT_ATTEMPT,
    batch_id=bindparam("p_batch"),
    status=Outcome.NOT_STARTED.value,
    started_at=NOW,
    finished_at=NOW,
    base_sha=bindparam("p_base_sha"),
    branch=bindparam("p_branch"),
    host=bindparam("p_host"),
    pid=bindparam("p_pid"),
    error=bindparam("p_error"),
)


def cancel_batch(conn: Connection, batch_id: str) -> list[str] | None:
    """Mark the batch cancelled and record its queued runs `not_started`; their ids, None if no batch."""
    base_sha = conn.execute(_MARK, {"p_batch": batch_id}).scalar_one_or_none()
    if base_sha is None:
        return None
    queued = sorted(conn.execute(_SETTLE_QUEUED, {"p_batch": batch_id}).scalars())
    slugs = dict(conn.execute(select(_RUNS.c.run_id, _RUNS.c.slug).where(_RUNS.c.run_id.in_(queued))).all())
    here = {"p_host": socket.gethostname(), "p_pid": os.getpid(), "p_base_sha": base_sha}
    for run_id in queued:
        params = {"p_run": run_id, "p_batch": batch_id, "p_branch": branch_name(slugs[run_id])}
        conn.execute(_NOT_STARTED, here | params | {"p_error": "batch cancelled before this run started"})
    return queued


def is_cancelled(conn: Connection, batch_id: str) -> bool:
    """True once the batch was cancelled."""
    query = select(_BATCHES.c.cancelled_at.is_not(None)).where(_BATCHES.c.batch_id == batch_id)
    return bool(conn.execute(query).scalar_one_or_none())
