"""Taking claims on runs of a batch: `FOR UPDATE SKIP LOCKED`, takeover of expired leases.

A claim locks the first claimable row (pending, or its lease expired by the database's clock)
that no other transaction is locking, so concurrent claimers never wait on each other and never
get the same run. Taking over an expired lease abandons its attempt and increments the token.
A claim is two statements: lock candidates (expired leases first, then pending runs), then take
their leases and record the attempts and events. They stay two, not one CTE: the second needs a
snapshot taken after the first locked the runs' rows, or a claim in another batch committed in
between would go unseen (two live attempts of one run). Both run in one PL/pgSQL function,
`parallel_runs_claim` (migrations/versions/0006_claim_functions.py): one round trip, and plans a
session keeps. The claims of one group (several worker threads of a process asking at once) share
that call: n claims of a batch cost one, not 2n (P6).
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import BigInteger, Integer, String, Table, bindparam, column, select, text
from sqlalchemy.engine import Connection, Row

from parallel_runs import testing_faults
from parallel_runs.core.layout import BRANCH_PREFIX
from parallel_runs.store.leases import CLAIMED, LEASES, RESTART_GRACE
from parallel_runs.store.models import BatchModel, RunModel, UTCDateTime
from parallel_runs.store.protocol import Claim, LeaseOwner

__all__ = ["ClaimAsk", "committed", "take_claims"]

_RUNS = cast(Table, RunModel.__table__)
_BATCHES = cast(Table, BatchModel.__table__)

# The statements are PL/pgSQL functions (migration 0006): a server session plans them once, where a
# statement sent as text was planned at every claim (P6). The chaos-proof fault switches are their
# arguments: a live lease counts as expired (`lease`), another batch's lapsed claim is not fenced
# (`batch-fence`), an outage eats the lease (`restart-grace`, leases.RESTART_GRACE).
_FAULTS = {
    "p_live_lapses": testing_faults.is_broken("lease"),
    "p_fence_batches": not testing_faults.is_broken("batch-fence"),
    "p_restart_grace": RESTART_GRACE,
}
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
# Lock as many claimable runs of the batch as there are asks (expired leases first, so a dead worker's
# run does not wait for the whole queue to drain), or the run `p_run`, that no other transaction
# locks (their `runs` rows too: that serializes attempt numbers across batches); then, in a fresh
# snapshot, take their leases and record the attempts, their events and the attempts taken over.
# The take sees every committed claim of the runs in other batches: a run live elsewhere is refused
# and searched past; another batch's lapsed claim gets a new token (its holder can no longer renew or
# record) and goes back to its queue, where it waits until this claim is done.
_CLAIM = text(
    "SELECT * FROM parallel_runs_claim(:p_batch, :p_run, CAST(:p_skip AS text[]), CAST(:p_keys AS text[]),"
    " CAST(:p_hosts AS text[]), CAST(:p_pids AS integer[]), CAST(:p_workers AS text[]),"
    " CAST(:p_ttls AS float8[]), CAST(:p_owners AS text[]), :p_branch_prefix, :p_live_lapses,"
    " :p_fence_batches, :p_restart_grace)"
).columns(
    column("claim_key", String()),
    column("run_id", String()),
    column("slug", String()),
    column("abandoned", Integer()),
    column("fencing_token", BigInteger()),
    column("attempt", Integer()),
    column("expires_at", UTCDateTime()),
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
    """Claims for the asks of one batch (numbered), in one call (`parallel_runs_claim`)."""
    # Each ask's skip is the process's runs in flight at one moment: a run one of them names waits
    # for a later claim (a delay, never a second execution).
    skip = sorted({run for ask in asks.values() for run in ask.skip})
    owners = [ask.owner for ask in asks.values()]
    params = {
        "p_batch": batch_id,
        "p_run": run_id,
        "p_skip": skip,
        "p_keys": [ask.key for ask in asks.values()],
        "p_hosts": [owner.host for owner in owners],
        "p_pids": [owner.pid for owner in owners],
        "p_workers": [owner.worker_id for owner in owners],
        "p_ttls": [ask.ttl for ask in asks.values()],
        "p_owners": [owner.describe() for owner in owners],
        "p_branch_prefix": BRANCH_PREFIX,
    }
    by_key = {ask.key: n for n, ask in asks.items()}
    claimed: dict[int, Claim] = {}
    for row in conn.execute(_CLAIM, params | _FAULTS):
        n = by_key[row.claim_key]
        claimed[n] = _claim(asks[n], row, abandoned=row.abandoned)
    return claimed


def committed(conn: Connection, ask: ClaimAsk) -> Claim | None:
    """The claim a transaction with this ask's key committed (a retried claim must not claim twice)."""
    row = conn.execute(_COMMITTED, {"p_batch": ask.batch_id, "p_key": ask.key}).first()
    if row is None:
        return None
    return _claim(ask, row, abandoned=None)


def _claim(ask: ClaimAsk, lease: Row[*tuple[Any, ...]], *, abandoned: int | None) -> Claim:
    """A claim from its lease's `run_id`, `slug`, `attempt`, `fencing_token`, `expires_at`, `base_sha`."""
    return Claim(
        batch_id=ask.batch_id,
        run_id=lease.run_id,
        slug=lease.slug,
        attempt=lease.attempt,
        fencing_token=lease.fencing_token,
        expires_at=lease.expires_at,
        owner=ask.owner,
        ttl=ask.ttl,
        base_sha=lease.base_sha,
        abandoned_attempt=abandoned,
    )
