"""A shared-store lease's life: claimed, renewed, finished (or spooled); a mixin of SharedStore.

Claims, renewals and results are grouped per process (`grouping.Grouped`): those asked by several
worker threads at once share one transaction, so one commit serves them all, and a thread waits
behind at most one group in flight (docs/PERFORMANCE.md, P6).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from pathlib import Path
from typing import TypeVar, cast

from sqlalchemy.engine import Connection

from parallel_runs import testing_faults
from parallel_runs.core.defaults import DEFAULT_LEASE_TTL
from parallel_runs.core.model import Attempt
from parallel_runs.errors import LeaseLostError, ParallelRunsError
from parallel_runs.store import claims, finishing, leases, spool
from parallel_runs.store.database import UnavailableError
from parallel_runs.store.grouping import Grouped
from parallel_runs.store.protocol import Claim, LeaseOwner
from parallel_runs.store.spool import SpoolReport

__all__ = ["SharedLeases"]

log = logging.getLogger(__name__)

T = TypeVar("T")
_Write = tuple[str, Callable[[Connection], object]]  # what is being done, and the work itself
# A group's claims share their statements (claims.take_claims), and so do its results (finishing).
_Item = _Write | claims.ClaimAsk | finishing.Finish


class SharedLeases:
    """Claim, heartbeat, finish and the spool of the shared store; needs the host's `_transaction`."""

    _url: str
    masked_url: str
    spool_dir: Path | None

    def _transaction(self, doing: str, work: Callable[[Connection], T]) -> T:
        raise NotImplementedError

    def _start_leases(self) -> None:
        self._flush_lock = threading.Lock()
        self._flusher: threading.Thread | None = None
        self._writes = Grouped(self._together)

    def _write(self, doing: str, work: Callable[[Connection], T]) -> T:
        """`work` in a transaction, with the claims, renewals and results other threads ask meanwhile."""
        return cast("T", self._writes((doing, work)))

    def _together(self, items: Sequence[_Item]) -> list[object]:
        try:
            return self._in_transaction(items)
        except UnavailableError:
            raise  # every caller's: each spools or waits as it would alone
        except Exception:
            if len(items) == 1:
                raise
        # One write failed and took the transaction with it: each again alone, so that only its own
        # caller sees the error (a claim looks its key up first, renewing and finishing are idempotent).
        outcomes: list[object] = []
        for item in items:
            # Once one stayed unreachable through every retry, the rest are told at once: each alone
            # would wait as long again, and the heartbeats queued behind the group with them.
            lost = next((done for done in outcomes if isinstance(done, UnavailableError)), None)
            outcomes.append(lost or _caught(self._alone, item, catching=Exception))
        return outcomes

    def _alone(self, item: _Item) -> object:
        return self._in_transaction([item])[0]

    def _in_transaction(self, items: Sequence[_Item]) -> list[object]:
        """Every item's outcome from one transaction: its result, or the lost lease its caller raises."""
        writes = [item for item in items if isinstance(item, tuple)]
        finishes = [item for item in items if isinstance(item, finishing.Finish)]
        asks = [item for item in items if isinstance(item, claims.ClaimAsk)]

        def work(conn: Connection) -> tuple[list[object], list[LeaseLostError | None], list[Claim | None]]:
            # Spooled results before claims, in the claims' own transaction: a claim may be on its way
            # (retrying through an outage) when a result is spooled, and must not take over its lease.
            replayed.append(spool.replay(conn, self.spool_dir) if asks else spool.Replayed())
            # Only a lost lease is its caller's alone here: it is raised once the fenced statement
            # matched no row, so nothing of the write is left to commit. Any other error may follow
            # rows the write changed: it fails the transaction, and the write is done again alone.
            written = [_caught(write, conn, catching=LeaseLostError) for _, write in writes]
            return written, finishing.finish_claims(conn, finishes), claims.take_claims(conn, asks)

        replayed: list[spool.Replayed] = []  # the last try's is the one committed
        doing = ", ".join(dict.fromkeys(_doing(item) for item in items))
        written, finished, claimed = self._transaction(doing, work)
        replayed[-1].settle()
        by_kind: dict[type, Iterator[object]] = {
            tuple: iter(written),
            finishing.Finish: iter(finished),
            claims.ClaimAsk: iter(claimed),
        }
        return [next(by_kind[type(item)]) for item in items]

    # --- claims ----------------------------------------------------------------------------

    def claim_next(
        self,
        *,
        batch_id: str,
        owner: LeaseOwner,
        ttl: float = DEFAULT_LEASE_TTL,
        exclude: Collection[str] = (),
    ) -> Claim | None:
        """Claim the next pending (or expired) run of a batch, none of `exclude`; None when none is free."""
        return self._claim(batch_id=batch_id, run_id=None, owner=owner, ttl=ttl, exclude=exclude)

    def claim_run(
        self, *, batch_id: str, run_id: str, owner: LeaseOwner, ttl: float = DEFAULT_LEASE_TTL
    ) -> Claim | None:
        """Claim one specific run; None if it holds a live lease, is finished, or is not in the batch."""
        return self._claim(batch_id=batch_id, run_id=run_id, owner=owner, ttl=ttl)

    def _claim(
        self,
        *,
        batch_id: str,
        run_id: str | None,
        owner: LeaseOwner,
        ttl: float,
        exclude: Collection[str] = (),
    ) -> Claim | None:
        if ttl <= 0:
            raise ValueError(f"lease TTL must be positive, got {ttl}")
        ask = claims.ClaimAsk(batch_id=batch_id, run_id=run_id, owner=owner, ttl=ttl, skip=tuple(exclude))
        claim = cast("Claim | None", self._writes(ask))
        if claim is not None:
            log.debug(
                "claimed %s/%s attempt %d token %d",
                batch_id,
                claim.run_id,
                claim.attempt,
                claim.fencing_token,
            )
        return claim

    def heartbeat(self, claim: Claim) -> Claim:
        """Renew a lease for another TTL; LeaseLostError if it was taken over."""
        return self._write("renew a lease", lambda conn: leases.renew(conn, claim))

    # --- results ---------------------------------------------------------------------------

    def finish_attempt(self, claim: Claim, result: Attempt) -> Path | None:
        """Record an attempt's final result under its claim; spool it if the database is unreachable.

        Returns None when written, or the spool file to replay with `flush_spool`. A stale claim
        raises LeaseLostError and nothing is written.
        """
        try:
            self._writes(finishing.Finish(claim, result))
        except UnavailableError:
            if self.spool_dir is None or testing_faults.is_broken("spool"):  # chaos-proof only: no spool
                raise
            path = spool.write_entry(self.spool_dir, claim=claim, result=result)
            self._keep_flushing(claim.ttl)
            log.warning(
                "database %s unreachable: result of run %r attempt %d spooled to %s",
                self.masked_url,
                claim.run_id,
                claim.attempt,
                path,
            )
            return path
        return None

    def _keep_flushing(self, ttl: float) -> None:
        """Replay the spool every TTL/3 until it is empty, whatever the workers are busy with: a lease
        that lapsed in an outage is taken one TTL after the database's restart (leases.lapsed)."""
        with self._flush_lock:
            if self._flusher is not None and self._flusher.is_alive():
                return
            self._flusher = threading.Thread(target=self._flush_until_empty, args=(ttl / 3,), daemon=True)
            self._flusher.start()

    def _flush_until_empty(self, interval: float) -> None:
        while self.spool_dir is not None and any(self.spool_dir.glob("*.json")):
            time.sleep(interval)
            try:
                self.flush_spool()
            except ParallelRunsError as exc:  # e.g. a reconnect refused: try again next time
                log.warning("spooled results not replayed yet: %s", exc)

    def flush_spool(self) -> SpoolReport:
        """Write spooled results (still under their tokens); stop at the first unreachable moment."""
        with self._flush_lock:  # worker threads may flush at once: each entry is replayed once
            return self._flush_spool()

    def _flush_spool(self) -> SpoolReport:
        if self.spool_dir is None or not any(self.spool_dir.glob("*.json")):
            return SpoolReport()
        try:
            replayed = self._transaction(
                "replay spooled results", lambda conn: spool.replay(conn, self.spool_dir)
            )
        except UnavailableError:
            return SpoolReport(remaining=len(spool.read_entries(self.spool_dir)))
        replayed.settle()
        return SpoolReport(stored=len(replayed.stored), rejected=len(replayed.rejected))


def _doing(item: _Item) -> str:
    if isinstance(item, tuple):
        return item[0]
    return "claim a run" if isinstance(item, claims.ClaimAsk) else "record a result"


def _caught(call: Callable[..., object], *args: object, catching: type[Exception]) -> object:
    """The call's result, or the error its caller alone raises (e.g. its lease moved on)."""
    try:
        return call(*args)
    except catching as exc:
        return exc
