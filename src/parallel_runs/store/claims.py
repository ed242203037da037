"""Taking claims on runs of a batch: `FOR UPDATE SKIP LOCKED`, takeover of expired leases.

A claim locks the first claimable row (pending, or its lease expired by the database's clock)
that no other transaction is locking, so concurrent claimers never wait on each other and never
get the same run. Taking over an expired lease abandons its attempt and increments the token.
Claims are two statements: lock candidates (expired leases first, then pending runs), then take
their leases and record the attempts and events. They stay two, not one CTE: the second needs a
snapshot taken after the first locked the runs' rows, or a claim in another batch committed in
between would go unseen (two live attempts of one run). The claims of one group (several worker
threads of a process asking at once) share both statements: n claims cost two, not 2n (P6). Both are
PL/pgSQL functions (migrations/versions/0006_claim_functions.py), whose plans a session keeps.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import BigInteger, Integer, String, Table, bindparam, column, select, text
from sqlalchemy.engine import Connection, Row

from parallel_runs import testing_faults
from parallel_runs.core.layout import branch_name
from parallel_runs.store.leases import CLAIMED, LEASES, RESTART_GRACE
from parallel_runs.store.models import BatchModel, RunModel, UTCDateTime
from parallel_runs.store.protocol import Claim, LeaseOwner

__all__ = ["ClaimAsk", "committed", "take_claims"]

_RUNS = cast(Table, RunModel.__table__)
_BATCHES = cast(Table, BatchModel.__table__)
_CLAIMED_EVENT, _TAKEN_OVER_EVENT = "claimed", "taken_over"

# The statements are PL/pgSQL functions (migration 0006): a server session plans them once, where a
# statement sent as text was planned at every claim (P6). The chaos-proof fault switches are their
# arguments: a live lease counts as expired (`lease`), another batch's lapsed claim is not fenced
# (`batch-fence`), an outage eats the lease (`restart-grace`, leases.RESTART_GRACE).
_FAULTS = {
    "p_live_lapses": testing_faults.is_broken("lease"),
    "p_fence_batches": not testing_faults.is_broken("batch-fence"),
    "p_restart_grace": RESTART_GRACE,
}
# Lock the first `p_limit` claimable runs of the batch (expired leases first, so a dead worker's run
# does not wait for the whole queue to drain), or the run `p_run`, that no other transaction locks;
# their `runs` rows too: that serializes attempt numbers across batches.
_NEXT_RUNS = text(
    "SELECT * FROM parallel_runs_next_runs(:p_batch, :p_run, CAST(:p_skip AS text[]), :p_limit,"
    " :p_live_lapses, :p_restart_grace)"
).columns(
    column("run_id", String()),
    column("state", String()),
    column("attempt", Integer()),
    column("slug", String()),
)
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
_RECORDED = (  # each claim's part of the take (an array each, one element a claim)
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
# Take the locked candidates' leases and record the claims (arrays, one element a claim): the
# attempts, their events, the attempts taken over. Run after the candidates were locked, in a fresh
# snapshot: the live-elsewhere check then sees every committed claim of the runs in other batches.
# Another batch's lapsed claim of the run gets a new token (its holder can no longer renew or
# record) and goes back to its queue, where it waits until this claim is done.
_TAKE_CLAIMS = text(
    "SELECT * FROM parallel_runs_take_claims(:p_batch, CAST(:p_runs AS text[]), CAST(:p_keys AS text[]),"
    " CAST(:p_hosts AS text[]), CAST(:p_pids AS integer[]), CAST(:p_workers AS text[]),"
    " CAST(:p_ttls AS float8[]), CAST(:p_branches AS text[]), CAST(:p_kinds AS text[]),"
    " CAST(:p_notes AS text[]), CAST(:p_reasons AS text[]), :p_fence_batches, :p_restart_grace)"
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
    while left and (
        candidates := conn.execute(
            _NEXT_RUNS, {"p_batch": batch_id, "p_run": run_id, "p_skip": skip, "p_limit": len(left)} | _FAULTS
        ).all()
    ):
        pairs = [(n, asks[n], candidate) for n, candidate in zip(left, candidates, strict=False)]
        recording = _recording(batch_id, [(ask, candidate) for _, ask, candidate in pairs])
        taken = {row.run_id: row for row in conn.execute(_TAKE_CLAIMS, recording | _FAULTS)}
        left = left[len(pairs) :]
        for n, ask, candidate in pairs:
            if (row := taken.get(candidate.run_id)) is None:
                skip.append(candidate.run_id)  # another batch is running this run right now
                left.append(n)
            else:
                claimed[n] = _claim(ask, row, slug=candidate.slug, abandoned=_abandoned(candidate))
    return claimed


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
