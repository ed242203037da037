"""Keep a shared-store lease alive while its attempt runs: a thread renewing it every TTL/3.

Each renewal also moves the run's kill deadline (`process.Deadline`, fed to the run's shim) to
`sent_at + TTL - margin`, with sent_at taken before the request goes out: the database computes
the lease's expiry after that, so the holder's deadline always comes first.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Protocol, Self

from parallel_runs.errors import LeaseLostError, ParallelRunsError
from parallel_runs.process import Deadline
from parallel_runs.store.protocol import Claim

__all__ = ["KILL_MARGIN", "LeaseKeeper"]

log = logging.getLogger(__name__)

# The share of the TTL between the holder's kill deadline and the earliest the lease can expire: it
# covers the kill itself and any drift between this machine's clock rate and the database's.
KILL_MARGIN = 0.2


class _Renews(Protocol):
    shares_queue: bool  # False: a private store's claim, which nothing can take over

    def heartbeat(self, claim: Claim) -> Claim: ...


class LeaseKeeper:
    """Renews a claim in a daemon thread until stopped; `lost` is set when a takeover is seen."""

    def __init__(
        self,
        store: _Renews,
        claim: Claim,
        *,
        interval: float | None = None,
        on_lost: Callable[[], None] | None = None,
        leased: bool = False,
    ) -> None:
        self._store = store
        self._on_lost = on_lost
        self.claim = claim
        self.interval = interval if interval is not None else claim.ttl / 3
        # The moment the run's processes die unless renewed: passed until a renewal succeeds (the
        # claim's own moment is not known here); none for a private store, which has no lease.
        self.deadline = Deadline(0.0 if leased else None)
        self._leased = leased
        self.lost = threading.Event()
        self.error: LeaseLostError | None = None
        self._stop = threading.Event()
        self._claim_lock = threading.Lock()
        # A private store's claim, which nothing can take over, needs no thread (a thread's start and
        # join cost a run a third of a millisecond); `confirm` still asks it.
        self._renewing = store.shares_queue
        self._thread = threading.Thread(target=self._loop, name=f"lease-{claim.run_id}", daemon=True)

    def follow(self, claim: Claim) -> None:
        """Renew this claim from now on (a retry's new claim on the same run)."""
        with self._claim_lock:
            self.claim = claim

    def _renew(self) -> None:
        with self._claim_lock:
            current = self.claim
        sent_at = time.monotonic()  # before the request: the database's expiry comes after it
        try:
            renewed = self._store.heartbeat(current)
        except LeaseLostError:
            with self._claim_lock:
                if self.claim is not current:  # a retry moved on to a new claim meanwhile: not lost
                    return
            raise
        with self._claim_lock:
            if self.claim is current:  # a renewal racing `follow` must not bring the old claim back
                self.claim = renewed
        if self._leased:
            self.deadline.extend(sent_at + current.ttl * (1 - KILL_MARGIN))

    def confirm(self) -> None:
        """Renew now, in this thread: the check that the claim is still held, right before a command.

        LeaseLostError if it was taken over; an unreachable store leaves the last deadline standing.
        """
        try:
            self._renew()
        except LeaseLostError:
            raise
        except ParallelRunsError as exc:
            log.warning("lease of run %r not confirmed: %s", self.claim.run_id, exc)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self._renew()
            except LeaseLostError as exc:
                log.warning("%s", exc)
                self.error = exc
                self.lost.set()
                if self._on_lost is not None:
                    self._on_lost()
                return
            except ParallelRunsError as exc:  # StoreError, or a ConfigError from a failed reconnect
                # Unreachable for now: the lease may still be ours when the database is back.
                log.warning("lease of run %r not renewed: %s", self.claim.run_id, exc)

    def start(self) -> Self:
        """Renew once here (the first deadline), then keep renewing in a thread."""
        if self._leased:
            self.confirm()
        if self._renewing:
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop renewing (the lease then lapses after its TTL unless the run is finished)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
