"""Leases of the shared store (CONTRACTS §7): owner, database-clock expiry, fencing token.

Every function runs inside the caller's transaction. Expiry is computed by the database's clock,
so machines with skewed clocks agree on when a lease ends. Every write under a claim names the
claim's fencing token in its WHERE clause; a takeover or a requeue increments the token, so a
stale holder's writes match no row and it gets LeaseLostError.

The hot statements are built once at import (bound parameters are prefixed `p_`): building
SQLAlchemy expressions per call cost more CPU than the database spent on them.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    Interval,
    Table,
    and_,
    bindparam,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Connection, Row
from sqlalchemy.sql.elements import ColumnElement

from parallel_runs import testing_faults
from parallel_runs.core.model import Outcome
from parallel_runs.errors import LeaseLostError
from parallel_runs.store.models import AttemptModel, BatchRunModel, EventModel, UTCDateTime
from parallel_runs.store.protocol import Claim

__all__ = [
    "ATTEMPTS",
    "CLAIMED",
    "EVENTS",
    "EVENT_INSERT",
    "FINISHED",
    "LEASES",
    "NOW",
    "PENDING",
    "RESTART_GRACE",
    "TOKEN_FENCED",
    "expiry",
    "fence",
    "lease_lost",
    "lease_params",
    "renew",
    "skip_claim",
]

PENDING, CLAIMED, FINISHED = "pending", "claimed", "finished"

LEASES = cast(Table, BatchRunModel.__table__)
ATTEMPTS = cast(Table, AttemptModel.__table__)
EVENTS = cast(Table, EventModel.__table__)
# clock_timestamp(), not now(): a long transaction must not see time stand still.
NOW: ColumnElement[datetime] = func.clock_timestamp(type_=UTCDateTime())


# A lease ran out when a TTL passed since its last renewal and a TTL since the database's start: a
# lease that ran out while the database was down counts from its restart, so a holder that spooled its
# result (or whose shim killed its command) gets a whole TTL to replay it or to give up. The claim
# functions (migration 0006) compute it; this switch is their argument.
RESTART_GRACE = not testing_faults.is_broken("restart-grace")  # chaos-proof only: an outage eats the lease


def expiry() -> ColumnElement[datetime]:
    """The database's time plus the `p_ttl` parameter (a timedelta)."""
    return NOW + bindparam("p_ttl", type_=Interval())


_LEASE_ROW = and_(LEASES.c.batch_id == bindparam("p_batch"), LEASES.c.run_id == bindparam("p_run"))
# Whether a write names its claim's token (every write under a claim does: store/finishing.py too).
TOKEN_FENCED = not testing_faults.is_broken("fencing")  # chaos-proof only: a stale token writes too
_CURRENT = and_(_LEASE_ROW, LEASES.c.fencing_token == bindparam("p_token")) if TOKEN_FENCED else _LEASE_ROW
_RENEW = (
    update(LEASES)
    # The token alone fences: a heartbeat landing just after `finish` is harmless, not a takeover.
    .where(_CURRENT)
    .values(heartbeat_at=NOW, expires_at=expiry())
    .returning(LEASES.c.expires_at)
)
# A no-op write: it locks the row, so a takeover waits until the fenced transaction is done.
_FENCE = update(LEASES).where(_CURRENT).values(fencing_token=LEASES.c.fencing_token)
EVENT_INSERT = insert(EVENTS).values(
    run_id=bindparam("p_run"),
    attempt=bindparam("p_attempt"),
    at=NOW,
    kind=bindparam("p_kind"),
    message=bindparam("p_message"),
)


def lease_params(claim: Claim) -> dict[str, Any]:
    """The bound parameters naming a claim's lease row, token, attempt and TTL."""
    return {
        "p_batch": claim.batch_id,
        "p_run": claim.run_id,
        "p_token": claim.fencing_token,
        "p_attempt": claim.attempt,
        "p_ttl": timedelta(seconds=claim.ttl),
    }


_HOLDER = select(
    LEASES.c.fencing_token,
    LEASES.c.state,
    LEASES.c.owner_host,
    LEASES.c.owner_pid,
    LEASES.c.owner_worker,
).where(_LEASE_ROW)


def lease_lost(conn: Connection, claim: Claim, *, doing: str) -> LeaseLostError:
    """The error for a stale holder, naming who holds the run now."""
    return _lost(claim, conn.execute(_HOLDER, lease_params(claim)).first(), doing=doing)


def _lost(
    claim: Claim, row: Row[int, str, str | None, int | None, str | None] | None, *, doing: str
) -> LeaseLostError:
    now = (
        "the run is gone"
        if row is None
        else (
            f"it is now at token {row.fencing_token} ({row.state}, host {row.owner_host}, "
            f"pid {row.owner_pid}, worker {row.owner_worker})"
        )
    )
    return LeaseLostError(
        f"run {claim.run_id!r} of batch {claim.batch_id!r}: cannot {doing} with fencing token "
        f"{claim.fencing_token} (attempt {claim.attempt}): the lease has moved on; {now}"
    )


def renew(conn: Connection, claim: Claim) -> Claim:
    """Push the lease's expiry TTL ahead (database clock) while the token is current."""
    expires_at = conn.execute(_RENEW, lease_params(claim)).scalar_one_or_none()
    if expires_at is None:
        raise lease_lost(conn, claim, doing="renew its lease")
    return replace(claim, expires_at=expires_at)


def fence(conn: Connection, claim: Claim, *, doing: str) -> None:
    """Lock the run's lease row for this transaction, or raise LeaseLostError if the token is stale."""
    if not conn.execute(_FENCE, lease_params(claim)).rowcount:
        raise lease_lost(conn, claim, doing=doing)


_SKIP_LEASE = (
    update(LEASES)
    .where(_CURRENT)
    .values(state=FINISHED, outcome=Outcome.SKIPPED.value, finished_at=NOW)
    .returning(LEASES.c.run_id)
)
# The attempt row the claim recorded as running: a skipped run made no attempt.
_DROP_CLAIMED_ATTEMPT = delete(ATTEMPTS).where(
    ATTEMPTS.c.run_id == bindparam("p_run"),
    ATTEMPTS.c.attempt == bindparam("p_attempt"),
    ATTEMPTS.c.status == Outcome.RUNNING.value,
)


def skip_claim(conn: Connection, claim: Claim) -> None:
    """Finish the claimed run as `skipped` (no attempt), if the claim is current."""
    params = lease_params(claim)
    if conn.execute(_SKIP_LEASE, params).first() is None:
        raise lease_lost(conn, claim, doing="skip the run")
    conn.execute(_DROP_CLAIMED_ATTEMPT, params)
