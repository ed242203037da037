"""The dashboard's one window on a store: the read side (`store.open_records`), its batches read at
most once per `REFRESH_SECONDS` however many pages and pollers ask, and each page of a batch's runs
asked of the store (`Records.runs_page`: in SQL for the shared store) once per change of the batch.
The pages poll every second: a change shows within two.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

from parallel_runs.core.ids import validate_batch_id, validate_run_id
from parallel_runs.core.model import Attempt
from parallel_runs.core.runs_query import RunsPage, RunsQuery
from parallel_runs.report.views import BatchState, batch_state
from parallel_runs.store.records import Records

__all__ = ["REFRESH_SECONDS", "Source"]

REFRESH_SECONDS = 0.8
KEPT_PAGES = 256  # pages of runs kept (each at most MAX_PER_PAGE rows); the oldest asked goes first
log = logging.getLogger(__name__)
_EPOCH = datetime.min.replace(tzinfo=UTC)
T = TypeVar("T")


class Source:
    """Cached reads of one `Records` (which the caller closes); thread-safe."""

    def __init__(self, records: Records, *, refresh: float = REFRESH_SECONDS) -> None:
        self.records = records
        self.refresh = refresh
        self._lock = threading.Lock()
        self._cache: dict[object, tuple[float, object]] = {}
        # (batch id, query): (the batch's version when read, the page)
        self._pages: dict[tuple[str, RunsQuery], tuple[str, RunsPage]] = {}

    @property
    def where(self) -> str:
        """Where the records are, for the pages' header."""
        return self.records.where

    def _cached(self, key: object, read: Callable[[], T]) -> T:
        """`read()`, unless it was read for `key` less than `refresh` seconds ago. One read at a time:
        a poller waiting on the lock gets the fresh value the reader before it made."""
        with self._lock:
            found = self._cache.get(key)
            if found is not None and time.monotonic() - found[0] < self.refresh:
                return found[1]  # type: ignore[return-value]
            value = read()
            self._cache[key] = (time.monotonic(), value)
            return value

    def batches(self) -> list[BatchState]:
        """Every batch, newest first."""
        return self._cached("batches", self._read_batches)

    def _read_batches(self) -> list[BatchState]:
        summaries = self.records.batches()
        # A `run` working the runs dir works its newest batch: the one whose attempts changed last.
        worked = self.records.is_worked_here() and summaries
        newest = max(summaries, key=lambda s: s.last or _EPOCH).batch_id if worked else None
        states = [batch_state(s, worked_on=s.batch_id == newest) for s in summaries]
        states.sort(key=lambda s: s.summary.first or _EPOCH, reverse=True)
        return states

    def batch(self, batch_id: str) -> BatchState:
        """The batch at a glance; NotFoundError when this location has no such batch."""
        validate_batch_id(batch_id)
        found = next((s for s in self.batches() if s.summary.batch_id == batch_id), None)
        if found is None:
            raise self.records.not_found(f"no such batch {batch_id!r}")
        return found

    def runs(self, batch_id: str, query: RunsQuery) -> RunsPage:
        """A page of the batch's runs; NotFoundError when this location has no such batch."""
        version = self.batch(batch_id).version
        # Every start, end or retry changes the batch's version (its counts or last time): a page read
        # at this version is still the batch's, however often the refresh expires.
        key = (batch_id, query)
        with self._lock:
            kept = self._pages.get(key)
        if kept is not None and kept[0] == version:
            return kept[1]
        found = self.records.runs_page(batch_id, query)  # read after the version: never older
        with self._lock:
            self._pages.pop(key, None)
            self._pages[key] = (version, found)
            while len(self._pages) > KEPT_PAGES:
                del self._pages[next(iter(self._pages))]
        return found

    def run(self, batch_id: str, run_id: str) -> list[Attempt]:
        """The run's attempts in the batch, by number; NotFoundError when it has none there."""
        validate_batch_id(batch_id)
        validate_run_id(run_id)
        found = [a for a in self.records.run_attempts(run_id) if a.batch_id == batch_id]
        if not found:
            raise self.records.not_found(f"no run {run_id!r} in batch {batch_id!r}")
        return found

    def warm(self) -> None:
        """Read every batch once (at start-up, in the background); a failure is the first page's to say."""
        try:
            self.batches()
        except Exception as exc:  # noqa: BLE001 - a warm-up: the pages report what goes wrong
            log.debug("warm-up read failed: %s", exc)

    def expire(self) -> None:
        """End the refresh window now: the next request reads the store again (what time does)."""
        with self._lock:
            self._cache.clear()

    def forget(self) -> None:
        """Drop everything read (after a cancel: the next request shows it)."""
        with self._lock:
            self._cache.clear()
            self._pages.clear()
