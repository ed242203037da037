"""Taking claims on runs of a batch: `FOR UPDATE SKIP LOCKED`, takeover of expired leases.

A claim locks the first claimable row (pending, or its lease expired by the database's clock)
that no other transaction is locking, so concurrent claimers never wait on each other and never
get the same run. Taking over an expired lease abandons its attempt and increments the token.
One claim is two statements: lock a candidate (expired leases first, then pending runs), then take
its lease and record the attempt and an event. They stay two, not one CTE: the second needs a
snapshot taken after the first locked the run's row, or a claim in another batch committed in
between would go unseen (two live attempts of one run).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import timedelta
from typing import Any, cast

from sqlalchemy import BigInteger, Integer, Select, String, Table, and_, bindparam, column, or_, select, text
from sqlalchemy.engine import Connection, Row
from sqlalchemy.sql.elements import ColumnElement

from parallel_runs import testing_faults
from parallel_runs.core.layout import branch_name
from parallel_runs.core.model import Outcome
from parallel_runs.store.leases import (
    CLAIMED,
    LEASES,
    PENDING,
    lapsed,
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


_EXPIRED = and_(LEASES.c.state == CLAIMED, lapsed(LEASES))
if testing_faults.is_broken("lease"):  # chaos-proof only: a live lease counts as expired
    _EXPIRED = LEASES.c.state == CLAIMED
# Expired leases first, so a dead worker's run does not wait for the whole queue to drain. Two
# queries rather than one with OR: each walks the (batch, state, position) index and stops at
# the first lockable row, where an OR had to read and sort the whole batch on every claim.
_EXPIRED_FIRST = _candidates(_EXPIRED).cte("expired")
_PENDING_NEXT = _candidates(LEASES.c.state == PENDING).cte("pending")
# One round trip for both searches: the union stops at its first row, so the pending search (and
# its row lock) only runs when no expired lease is free.
_SEARCHES = (select(_EXPIRED_FIRST).union_all(select(_PENDING_NEXT)).limit(1),)
_ONE_RUN = (_candidates(LEASES.c.run_id == bindparam("p_run"), or_(LEASES.c.state == PENDING, _EXPIRED)),)
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


# Take the locked candidate's lease and record the claim, in one statement. Run after the candidate
# was locked, in a fresh snapshot: the live-elsewhere check then sees every committed claim of the
# run in other batches. The other parts act only when the lease was taken (`EXISTS (taken)`).
_TAKE_AND_RECORD = text(
    """
WITH taken AS (
  UPDATE batch_runs SET state = 'claimed', outcome = 'running',
    attempt = (SELECT coalesce(max(a.attempt), 0) + 1 FROM attempts a WHERE a.run_id = batch_runs.run_id),
    attempts = batch_runs.attempts + 1, fencing_token = batch_runs.fencing_token + 1,
    claim_key = :p_key, owner_host = :p_host, owner_pid = :p_pid, owner_worker = :p_worker,
    claimed_at = clock_timestamp(), heartbeat_at = clock_timestamp(),
    expires_at = clock_timestamp() + :p_ttl, finished_at = NULL
  WHERE batch_runs.batch_id = :p_batch AND batch_runs.run_id = :p_run
    AND NOT EXISTS (
      SELECT 1 FROM batch_runs other_lease WHERE other_lease.run_id = batch_runs.run_id
        AND other_lease.batch_id <> batch_runs.batch_id AND other_lease.state = 'claimed'
        AND NOT ({lapsed_other}))
  RETURNING batch_runs.fencing_token, batch_runs.attempt, batch_runs.expires_at, batch_runs.claimed_at,
    (SELECT b.base_sha FROM batches b WHERE b.batch_id = batch_runs.batch_id) AS base_sha
), fenced AS (
  UPDATE batch_runs SET state = 'pending', outcome = 'abandoned', claim_key = NULL,
    fencing_token = batch_runs.fencing_token + 1
  WHERE batch_runs.run_id = :p_run AND batch_runs.batch_id <> :p_batch AND batch_runs.state = 'claimed'
    AND {fence_batches} AND EXISTS (SELECT 1 FROM taken)
), abandoned AS (
  UPDATE attempts SET status = 'abandoned', finished_at = clock_timestamp(), error = :p_reason
  WHERE attempts.run_id = :p_run AND attempts.status = 'running'
    AND attempts.attempt < (SELECT attempt FROM taken)
), new_attempt AS (
  INSERT INTO attempts (run_id, attempt, batch_id, status, started_at, base_sha, branch, host, pid)
  SELECT :p_run, taken.attempt, :p_batch, 'running', taken.claimed_at, taken.base_sha, :p_branch,
    :p_host, :p_pid FROM taken
), event AS (
  INSERT INTO events (run_id, attempt, at, kind, message)
  SELECT :p_run, taken.attempt, clock_timestamp(), :p_kind, 'token ' || taken.fencing_token || ', ' || :p_note
  FROM taken
)
SELECT fencing_token, attempt, expires_at, claimed_at, base_sha FROM taken
""".format(  # noqa: S608 (only this module's own constant SQL is formatted in)
        # Another batch's lapsed claim of the run gets a new token (its holder can no longer renew or
        # record) and goes back to its queue, where it waits until this claim is done.
        fence_batches="false" if testing_faults.is_broken("batch-fence") else "true",
        lapsed_other=str(lapsed(_OTHER).compile(compile_kwargs={"literal_binds": True})),
    )
).columns(
    column("fencing_token", BigInteger()),
    column("attempt", Integer()),
    column("expires_at", UTCDateTime()),
    column("claimed_at", UTCDateTime()),
    column("base_sha", String()),
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
    """Claim one run of the batch (the given one, or the next claimable not in `skip`); None if none.

    Two statements: lock a candidate, then take its lease and record the attempt and an event.
    """
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
            recording = _recording(candidate, owner)
            taken = conn.execute(_TAKE_AND_RECORD, params | recording).first()
            if taken is not None:
                return _claim(
                    batch_id,
                    candidate.run_id,
                    candidate.slug,
                    taken,
                    abandoned=recording["p_abandoned"],
                    owner=owner,
                    ttl=ttl,
                )
            skip.append(candidate.run_id)  # another batch is running this run right now
    return None


def _recording(candidate: Row[str, str, int | None, str], owner: LeaseOwner) -> dict[str, Any]:
    """What the claim of `candidate` records: the attempt it abandons (a takeover), the event."""
    abandoned = candidate.attempt if candidate.state == CLAIMED else None
    note = owner.describe() + (f", attempt {abandoned} abandoned" if abandoned is not None else "")
    return {
        "p_run": candidate.run_id,
        "p_branch": branch_name(candidate.slug),
        "p_abandoned": abandoned,
        "p_reason": f"lease expired; taken over by {owner.describe()}",
        "p_kind": _CLAIMED_EVENT if abandoned is None else _TAKEN_OVER_EVENT,
        "p_note": note,
    }


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
