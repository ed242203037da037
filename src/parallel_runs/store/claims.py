"""Taking claims on runs of a batch: `FOR UPDATE SKIP LOCKED`, takeover of expired leases.

A claim locks the first claimable row (pending, or its lease expired by the database's clock)
that no other transaction is locking, so concurrent claimers never wait on each other and never
get the same run. Taking over an expired lease abandons its attempt and increments the token.
Claims are two statements: lock candidates (expired leases first, then pending runs), then take
their leases and record the attempts and events. They stay two, not one CTE: the second needs a
snapshot taken after the first locked the runs' rows, or a claim in another batch committed in
between would go unseen (two live attempts of one run). The claims of one group (several worker
threads of a process asking at once) share both statements: n claims cost two, not 2n (P6).
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
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

__all__ = ["ClaimAsk", "committed", "take_claims"]

_RUNS = cast(Table, RunModel.__table__)
_BATCHES = cast(Table, BatchModel.__table__)
_OTHER = LEASES.alias("other_lease")
_RUNNING = Outcome.RUNNING.value
_CLAIMED_EVENT, _TAKEN_OVER_EVENT = "claimed", "taken_over"


def _candidates(*where: ColumnElement[bool]) -> Select[str, str, int | None, str]:
    """Lock the first `p_limit` matching runs of the batch that no other transaction is locking."""
    return (
        select(LEASES.c.run_id, LEASES.c.state, LEASES.c.attempt, _RUNS.c.slug)
        .join_from(LEASES, _RUNS, _RUNS.c.run_id == LEASES.c.run_id)
        .where(LEASES.c.batch_id == bindparam("p_batch"), *where)
        .where(LEASES.c.run_id.not_in(bindparam("p_skip", expanding=True)))
        .order_by(LEASES.c.position)
        .limit(bindparam("p_limit"))
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
# One round trip for both searches: the union stops at its `p_limit`th row, so the pending search
# (and its row locks) only runs for what the expired leases did not fill.
_NEXT_RUNS = select(_EXPIRED_FIRST).union_all(select(_PENDING_NEXT)).limit(bindparam("p_limit"))
_ONE_RUN = _candidates(LEASES.c.run_id == bindparam("p_run"), or_(LEASES.c.state == PENDING, _EXPIRED))
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


# Take the locked candidates' leases and record the claims, in one statement: `wanted` pairs each
# candidate with its claimer (arrays, one element a claim). Run after the candidates were locked, in
# a fresh snapshot: the live-elsewhere check then sees every committed claim of the runs in other
# batches. The other parts act only on the leases taken (`taken`).
_TAKE_AND_RECORD = text(
    """
WITH wanted AS (
  SELECT * FROM unnest(CAST(:p_runs AS text[]), CAST(:p_keys AS text[]), CAST(:p_hosts AS text[]),
    CAST(:p_pids AS integer[]), CAST(:p_workers AS text[]), CAST(:p_ttls AS float8[]),
    CAST(:p_branches AS text[]), CAST(:p_kinds AS text[]), CAST(:p_notes AS text[]),
    CAST(:p_reasons AS text[]))
    AS w(run_id, claim_key, host, pid, worker, ttl, branch, kind, note, reason)
), taken AS (
  UPDATE batch_runs SET state = 'claimed', outcome = 'running',
    attempt = (SELECT coalesce(max(a.attempt), 0) + 1 FROM attempts a WHERE a.run_id = batch_runs.run_id),
    attempts = batch_runs.attempts + 1, fencing_token = batch_runs.fencing_token + 1,
    claim_key = w.claim_key, owner_host = w.host, owner_pid = w.pid, owner_worker = w.worker,
    claimed_at = clock_timestamp(), heartbeat_at = clock_timestamp(),
    expires_at = clock_timestamp() + make_interval(secs => w.ttl), finished_at = NULL
  FROM wanted w
  -- `= ANY` as well as the join: the primary key then finds the rows, whatever the table's statistics
  WHERE batch_runs.batch_id = :p_batch AND batch_runs.run_id = ANY(CAST(:p_runs AS text[]))
    AND batch_runs.run_id = w.run_id
    AND NOT EXISTS (
      SELECT 1 FROM batch_runs other_lease WHERE other_lease.run_id = batch_runs.run_id
        AND other_lease.batch_id <> batch_runs.batch_id AND other_lease.state = 'claimed'
        AND NOT ({lapsed_other}))
  RETURNING batch_runs.run_id, batch_runs.fencing_token, batch_runs.attempt, batch_runs.expires_at,
    batch_runs.claimed_at,
    (SELECT b.base_sha FROM batches b WHERE b.batch_id = batch_runs.batch_id) AS base_sha
), fenced AS (
  UPDATE batch_runs SET state = 'pending', outcome = 'abandoned', claim_key = NULL,
    fencing_token = batch_runs.fencing_token + 1
  WHERE batch_runs.run_id IN (SELECT run_id FROM taken) AND batch_runs.batch_id <> :p_batch
    AND batch_runs.state = 'claimed' AND {fence_batches}
), abandoned AS (
  UPDATE attempts SET status = 'abandoned', finished_at = clock_timestamp(), error = w.reason
  FROM taken JOIN wanted w ON w.run_id = taken.run_id
  WHERE attempts.run_id = taken.run_id AND attempts.status = 'running' AND attempts.attempt < taken.attempt
), new_attempt AS (
  INSERT INTO attempts (run_id, attempt, batch_id, status, started_at, base_sha, branch, host, pid)
  SELECT taken.run_id, taken.attempt, :p_batch, 'running', taken.claimed_at, taken.base_sha, w.branch,
    w.host, w.pid FROM taken JOIN wanted w ON w.run_id = taken.run_id
), event AS (
  INSERT INTO events (run_id, attempt, at, kind, message)
  SELECT taken.run_id, taken.attempt, clock_timestamp(), w.kind,
    'token ' || taken.fencing_token || ', ' || w.note
  FROM taken JOIN wanted w ON w.run_id = taken.run_id
)
SELECT run_id, fencing_token, attempt, expires_at, claimed_at, base_sha FROM taken
""".format(  # noqa: S608 (only this module's own constant SQL is formatted in)
        # Another batch's lapsed claim of the run gets a new token (its holder can no longer renew or
        # record) and goes back to its queue, where it waits until this claim is done.
        fence_batches="false" if testing_faults.is_broken("batch-fence") else "true",
        lapsed_other=str(lapsed(_OTHER).compile(compile_kwargs={"literal_binds": True})),
    )
).columns(
    column("run_id", String()),
    column("fencing_token", BigInteger()),
    column("attempt", Integer()),
    column("expires_at", UTCDateTime()),
    column("claimed_at", UTCDateTime()),
    column("base_sha", String()),
)


@dataclass(kw_only=True)
class ClaimAsk:
    """One caller's claim: the next claimable run of a batch not in `skip`, or the run `run_id`."""

    batch_id: str
    owner: LeaseOwner
    ttl: float
    run_id: str | None = None
    skip: Collection[str] = ()
    key: str = field(default_factory=lambda: uuid.uuid4().hex)
    # Once tried, a transaction done again looks its key up first: the commit whose acknowledgement
    # was lost may have landed, and the run must not be claimed twice.
    tried: bool = False


def take_claims(conn: Connection, asks: Sequence[ClaimAsk]) -> list[Claim | None]:
    """Each ask's claim, None where no run was free; the asks for one batch share their statements."""
    claimed: list[Claim | None] = [None] * len(asks)
    waiting: dict[tuple[str, str | None], list[int]] = {}
    for n, ask in enumerate(asks):
        if ask.tried and (found := committed(conn, ask)):
            claimed[n] = found
        else:
            waiting.setdefault((ask.batch_id, ask.run_id), []).append(n)
        ask.tried = True
    for (batch_id, run_id), numbers in waiting.items():
        for n, claim in _take(conn, batch_id, run_id, {n: asks[n] for n in numbers}).items():
            claimed[n] = claim
    return claimed


def _take(conn: Connection, batch_id: str, run_id: str | None, asks: dict[int, ClaimAsk]) -> dict[int, Claim]:
    """Claims for the asks of one batch (numbered), two statements a round: lock as many candidates as
    asks are left, then take their leases and record the attempts and events. A candidate another
    batch runs right now is skipped, and the next round searches past it."""
    claimed: dict[int, Claim] = {}
    # Each ask's skip is the process's runs in flight at one moment: a run one of them names waits
    # for a later claim (a delay, never a second execution).
    left, skip = list(asks), sorted({run for ask in asks.values() for run in ask.skip})
    query = _NEXT_RUNS if run_id is None else _ONE_RUN
    while left and (
        candidates := conn.execute(
            query, {"p_batch": batch_id, "p_run": run_id, "p_skip": skip, "p_limit": len(left)}
        ).all()
    ):
        pairs = [(n, asks[n], candidate) for n, candidate in zip(left, candidates, strict=False)]
        recording = _recording(batch_id, [(ask, candidate) for _, ask, candidate in pairs])
        taken = {row.run_id: row for row in conn.execute(_TAKE_AND_RECORD, recording)}
        left = left[len(pairs) :]
        for n, ask, candidate in pairs:
            if (row := taken.get(candidate.run_id)) is None:
                skip.append(candidate.run_id)  # another batch is running this run right now
                left.append(n)
            else:
                claimed[n] = _claim(ask, row, slug=candidate.slug, abandoned=_abandoned(candidate))
    return claimed


_RECORDED = (
    "p_runs",
    "p_keys",
    "p_hosts",
    "p_pids",
    "p_workers",
    "p_ttls",
    "p_branches",
    "p_kinds",
    "p_notes",
    "p_reasons",
)


def _abandoned(candidate: Row[str, str, int | None, str]) -> int | None:
    """The attempt a claim of `candidate` takes over: its expired lease's, if it had one."""
    return candidate.attempt if candidate.state == CLAIMED else None


def _recording(batch_id: str, pairs: list[tuple[ClaimAsk, Row[str, str, int | None, str]]]) -> dict[str, Any]:
    """What the claims record, as arrays (one element a claim): owners, attempts taken over, events."""
    rows = []
    for ask, candidate in pairs:
        owner, abandoned = ask.owner, _abandoned(candidate)
        note = owner.describe() + (f", attempt {abandoned} abandoned" if abandoned is not None else "")
        kind = _CLAIMED_EVENT if abandoned is None else _TAKEN_OVER_EVENT
        reason = f"lease expired; taken over by {owner.describe()}"
        rows.append(
            (
                candidate.run_id,
                ask.key,
                owner.host,
                owner.pid,
                owner.worker_id,
                ask.ttl,
                branch_name(candidate.slug),
                kind,
                note,
                reason,
            )
        )
    columns = dict(zip(_RECORDED, (list(values) for values in zip(*rows, strict=True)), strict=True))
    return {"p_batch": batch_id} | columns


def committed(conn: Connection, ask: ClaimAsk) -> Claim | None:
    """The claim a transaction with this ask's key committed (a retried claim must not claim twice)."""
    row = conn.execute(_COMMITTED, {"p_batch": ask.batch_id, "p_key": ask.key}).first()
    if row is None:
        return None
    return _claim(ask, row, slug=row.slug, abandoned=None)


def _claim(ask: ClaimAsk, lease: Row[*tuple[Any, ...]], *, slug: str, abandoned: int | None) -> Claim:
    """A claim from its lease's `run_id`, `attempt`, `fencing_token`, `expires_at` and `base_sha`."""
    return Claim(
        batch_id=ask.batch_id,
        run_id=lease.run_id,
        slug=slug,
        attempt=lease.attempt,
        fencing_token=lease.fencing_token,
        expires_at=lease.expires_at,
        owner=ask.owner,
        ttl=ask.ttl,
        base_sha=lease.base_sha,
        abandoned_attempt=abandoned,
    )
