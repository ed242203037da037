"""Keep a shared-store lease alive while its attempt runs: a thread renewing it every TTL/3."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Protocol, Self

from parallel_runs.errors import LeaseLostError, ParallelRunsError
from parallel_runs.store.leases import Claim

__all__ = ["LeaseKeeper"]

log = logging.getLogger(__name__)


class _Renews(Protocol):
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
    ) -> None:
        self._store = store
        self._on_lost = on_lost
        self.claim = claim
        self.interval = interval if interval is not None else claim.ttl / 3
        self.lost = threading.Event()
        self.error: LeaseLostError | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"lease-{claim.run_id}", daemon=True)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.claim = self._store.heartbeat(self.claim)
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
        """Start renewing."""
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
