"""Taking claims on runs of a batch: `FOR UPDATE SKIP LOCKED`, takeover of expired leases.

A claim locks the first claimable row (pending, or its lease expired by the database's clock)
that no other transaction is locking, so concurrent claimers never wait on each other and never
get the same run. Taking over an expired lease abandons its attempt and increments the token.
One claim is three or four statements: lock a candidate (expired leases, then pending runs),
take its lease, record the attempt and an event.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Select, Table, and_, bindparam, exists, func, insert, or_, select, update
from sqlalchemy.engine import Connection, Row
from sqlalchemy.sql.elements import ColumnElement

from parallel_runs.core.layout import branch_name
from parallel_runs.core.model import Outcome
from parallel_runs.store.leases import (
    ATTEMPTS,
    CLAIMED,
    EVENT_INSERT,
    LEASES,
    NOW,
    PENDING,
    expiry,
)
from parallel_runs.store.models import BatchModel, RunModel, UTCDateTime
from parallel_runs.store.protocol import Claim, LeaseOwner

__all__ = ["find_claim", "take_claim"]

_RUNS = cast(Table, RunModel.__table__)
_BATCHES = cast(Table, BatchModel.__table__)
_OTHER = LEASES.alias("other_lease")
_RUNNING = Outcome.RUNNING.value
_CLAIMED_EVENT, _TAKEN_OVER_EVENT = "claimed", "taken_over"


def _candidates(*where: ColumnElement[bool]) -> Select[str, str, int | None, str]:
    """Lock the first matching run of the batch that no other transaction is locking."""
    return (
        select(LEASES.c.run_id, LEASES.c.state, LEASES.c.attempt, _RUNS.c.slug)
        .join_from(LEASES, _RUNS, _RUNS.c.run_id == LEASES.c.run_id)
        .where(LEASES.c.batch_id == bindparam("p_batch"), *where)
        .where(LEASES.c.run_id.not_in(bindparam("p_skip", expanding=True)))
        .order_by(LEASES.c.position)
        .limit(1)
        # The run's row is locked too: it serializes attempt numbers across batches.
        .with_for_update(skip_locked=True)
    )


_EXPIRED = and_(LEASES.c.state == CLAIMED, LEASES.c.expires_at <= NOW)
# Expired leases first, so a dead worker's run does not wait for the whole queue to drain. Two
# queries rather than one with OR: each walks the (batch, state, position) index and stops at
# the first lockable row, where an OR had to read and sort the whole batch on every claim.
_SEARCHES = (_candidates(_EXPIRED), _candidates(LEASES.c.state == PENDING))
_ONE_RUN = (_candidates(LEASES.c.run_id == bindparam("p_run"), or_(LEASES.c.state == PENDING, _EXPIRED)),)
# Evaluated after the lock above, in a fresh snapshot: at most one live attempt of a run anywhere.
_LIVE_ELSEWHERE = exists().where(
    _OTHER.c.run_id == LEASES.c.run_id,
    _OTHER.c.batch_id != LEASES.c.batch_id,
    _OTHER.c.state == CLAIMED,
    _OTHER.c.expires_at > NOW,
)
_NEXT_ATTEMPT = (
    select(func.coalesce(func.max(ATTEMPTS.c.attempt), 0) + 1)
    .where(ATTEMPTS.c.run_id == LEASES.c.run_id)
    .scalar_subquery()
)
_TAKE = (
    update(LEASES)
    .where(LEASES.c.batch_id == bindparam("p_batch"), LEASES.c.run_id == bindparam("p_run"), ~_LIVE_ELSEWHERE)
    .values(
        state=CLAIMED,
        outcome=_RUNNING,
        attempt=_NEXT_ATTEMPT,
        attempts=LEASES.c.attempts + 1,
        fencing_token=LEASES.c.fencing_token + 1,
        claim_key=bindparam("p_key"),
        owner_host=bindparam("p_host"),
        owner_pid=bindparam("p_pid"),
        owner_worker=bindparam("p_worker"),
        claimed_at=NOW,
        heartbeat_at=NOW,
        expires_at=expiry(),
        finished_at=None,
    )
    .returning(
        LEASES.c.fencing_token,
        LEASES.c.attempt,
        LEASES.c.expires_at,
        LEASES.c.claimed_at,
        select(_BATCHES.c.base_sha)
        .where(_BATCHES.c.batch_id == LEASES.c.batch_id)
        .scalar_subquery()
        .label("base_sha"),
    )
)
_ABANDON = (
    update(ATTEMPTS)
    .where(
        ATTEMPTS.c.run_id == bindparam("p_run"),
        ATTEMPTS.c.attempt == bindparam("p_abandoned"),
        ATTEMPTS.c.status == _RUNNING,
    )
    .values(status=Outcome.ABANDONED.value, finished_at=NOW, error=bindparam("p_reason"))
)
_NEW_ATTEMPT = (
    insert(ATTEMPTS)
    .values(
        run_id=bindparam("p_run"),
        attempt=bindparam("p_attempt"),
        batch_id=bindparam("p_batch"),
        status=_RUNNING,
        started_at=bindparam("p_started_at", type_=UTCDateTime()),
        base_sha=bindparam("p_base_sha"),
        branch=bindparam("p_branch"),
        host=bindparam("p_host"),
        pid=bindparam("p_pid"),
    )
    .cte("new_attempt")
)
# The new attempt (a CTE) and its event in one statement.
_RECORD = EVENT_INSERT.add_cte(_NEW_ATTEMPT)

# What a retried claim reads back of the one its transaction committed (which attempt it took
# over, if any, is not recovered: it only names the takeover in a log line).
_COMMITTED = (
    select(
        LEASES.c.run_id,
        LEASES.c.attempt,
        LEASES.c.fencing_token,
        LEASES.c.expires_at,
        _RUNS.c.slug,
        _BATCHES.c.base_sha,
    )
    .join_from(LEASES, _RUNS, _RUNS.c.run_id == LEASES.c.run_id)
    .join(_BATCHES, _BATCHES.c.batch_id == LEASES.c.batch_id)
    .where(
        LEASES.c.batch_id == bindparam("p_batch"),
        LEASES.c.claim_key == bindparam("p_key"),
        LEASES.c.state == CLAIMED,
    )
)


def take_claim(
    conn: Connection,
    *,
    batch_id: str,
    owner: LeaseOwner,
    ttl: float,
    key: str,
    run_id: str | None = None,
    skip: Collection[str] = (),
) -> Claim | None:
    """Claim one run of the batch (the given one, or the next claimable not in `skip`); None if none."""
    skip = list(skip)
    params: dict[str, Any] = {
        "p_batch": batch_id,
        "p_key": key,
        "p_host": owner.host,
        "p_pid": owner.pid,
        "p_worker": owner.worker_id,
        "p_ttl": timedelta(seconds=ttl),
    }
    for query in _SEARCHES if run_id is None else _ONE_RUN:
        while candidate := conn.execute(query, params | {"p_skip": skip, "p_run": run_id}).first():
            taken = conn.execute(_TAKE, params | {"p_run": candidate.run_id}).first()
            if taken is not None:
                return _record(conn, candidate, taken=taken, params=params, owner=owner, ttl=ttl)
            skip.append(candidate.run_id)  # another batch is running this run right now
    return None


def _record(
    conn: Connection,
    candidate: Row[str, str, int | None, str],
    *,
    taken: Row[int, int, datetime, datetime, str],
    params: dict[str, Any],
    owner: LeaseOwner,
    ttl: float,
) -> Claim:
    """Abandon the expired attempt this claim replaces; record the new attempt and an event."""
    token, attempt, _, started_at, base_sha = taken
    abandoned = candidate.attempt if candidate.state == CLAIMED else None
    params = params | {"p_run": candidate.run_id, "p_attempt": attempt, "p_started_at": started_at}
    note = f"token {token}, {owner.describe()}"
    if abandoned is not None:
        reason = f"lease expired; taken over by {owner.describe()}"
        conn.execute(_ABANDON, params | {"p_abandoned": abandoned, "p_reason": reason})
        note += f", attempt {abandoned} abandoned"
    kind = _CLAIMED_EVENT if abandoned is None else _TAKEN_OVER_EVENT
    branch = branch_name(candidate.slug)
    record = {"p_base_sha": base_sha, "p_branch": branch, "p_kind": kind, "p_message": note}
    conn.execute(_RECORD, params | record)
    return _claim(
        params["p_batch"], candidate.run_id, candidate.slug, taken, abandoned=abandoned, owner=owner, ttl=ttl
    )


def find_claim(conn: Connection, *, batch_id: str, key: str, owner: LeaseOwner, ttl: float) -> Claim | None:
    """The claim a transaction with this key committed (a retried claim must not claim twice)."""
    row = conn.execute(_COMMITTED, {"p_batch": batch_id, "p_key": key}).first()
    if row is None:
        return None
    return _claim(batch_id, row.run_id, row.slug, row, abandoned=None, owner=owner, ttl=ttl)


def _claim(
    batch_id: str,
    run_id: str,
    slug: str,
    lease: Row[*tuple[Any, ...]],
    *,
    abandoned: int | None,
    owner: LeaseOwner,
    ttl: float,
) -> Claim:
    """A claim from its lease's `attempt`, `fencing_token`, `expires_at` and batch's `base_sha`."""
    return Claim(
        batch_id=batch_id,
        run_id=run_id,
        slug=slug,
        attempt=lease.attempt,
        fencing_token=lease.fencing_token,
        expires_at=lease.expires_at,
        owner=owner,
        ttl=ttl,
        base_sha=lease.base_sha,
        abandoned_attempt=abandoned,
    )
