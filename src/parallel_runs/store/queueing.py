"""A batch's queue put back or skipped: `run`'s resume rules, and the requeue of finished runs.

Statements on the same lease rows as store/leases.py (its tables and states), kept apart because
they act on a whole batch, not on one claim.
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import exists, select, update
from sqlalchemy.engine import Connection

from parallel_runs.core.model import Outcome
from parallel_runs.store.leases import ATTEMPTS, FINISHED, LEASES, NOW, PENDING

__all__ = ["requeue_runs", "resume_runs"]

_SUCCESS = [outcome.value for outcome in Outcome if outcome.is_success]


def requeue_runs(
    conn: Connection,
    *,
    batch_id: str,
    run_ids: Collection[str] | None,
    max_attempts: int | None,
    succeeded_too: bool = False,
) -> list[str]:
    """Put finished, unsuccessful runs back in the queue (successful ones too if `succeeded_too`)."""
    query = (
        update(LEASES)
        .where(LEASES.c.batch_id == batch_id, LEASES.c.state == FINISHED)
        # A new token: whoever finished the run last can no longer write to it.
        .values(state=PENDING, fencing_token=LEASES.c.fencing_token + 1, claim_key=None)
        .returning(LEASES.c.run_id)
    )
    if not succeeded_too:
        query = query.where(LEASES.c.outcome.not_in(_SUCCESS))
    if run_ids is not None:
        query = query.where(LEASES.c.run_id.in_(list(run_ids)))
    if max_attempts is not None:
        query = query.where(LEASES.c.attempts < max_attempts)
    return sorted(conn.execute(query).scalars())


_LATEST_SUCCEEDED = (
    select(ATTEMPTS.c.status)
    .where(ATTEMPTS.c.run_id == LEASES.c.run_id)
    .order_by(ATTEMPTS.c.attempt.desc())
    .limit(1)
    .scalar_subquery()
    == Outcome.SUCCEEDED.value
)
_EVER_RAN = exists().where(ATTEMPTS.c.run_id == LEASES.c.run_id)


def resume_runs(conn: Connection, *, batch_id: str, redo: bool, only_failed: bool) -> list[tuple[str, str]]:
    """Apply `run`'s resume rules to a batch's queue; return the (run id, reason) of each run skipped.

    Finished runs that did not succeed are queued again (all finished runs with `redo`). Unless
    `redo`, a queued run whose latest attempt in the store (any batch) succeeded is skipped;
    with `only_failed`, so is one that never ran.
    """
    requeue_runs(conn, batch_id=batch_id, run_ids=None, max_attempts=None, succeeded_too=redo)
    if redo:
        return []
    rules = [(_LATEST_SUCCEEDED, "its latest attempt already succeeded (use --redo to run it again)")]
    if only_failed:
        rules.append((~_EVER_RAN, "never ran (--only-failed runs only runs that did not succeed)"))
    skipped: list[tuple[str, str]] = []
    for condition, reason in rules:
        skip = (
            update(LEASES)
            .where(LEASES.c.batch_id == batch_id, LEASES.c.state == PENDING, condition)
            .values(state=FINISHED, outcome=Outcome.SKIPPED.value, finished_at=NOW)
            .returning(LEASES.c.run_id)
        )
        skipped += [(run_id, reason) for run_id in conn.execute(skip).scalars()]
    return sorted(skipped)
