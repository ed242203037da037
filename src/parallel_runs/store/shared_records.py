"""The read side of the shared PostgreSQL store: every machine's attempts, logs and artifacts.

An attempt's run.log and artifacts are stored when it ends (`SharedQueue.keep_artifacts`): the
stored run.log holds that attempt's own part. Stored, it never changes: the last few read are kept
(`STORED_LOGS_KEPT` bytes in all), so a reader that takes one in pieces (the dashboard's run page)
fetches and unpacks it from the database once, not once per piece.
"""

from __future__ import annotations

import io
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from parallel_runs.core.batch import BatchDefinition, BatchSummary
from parallel_runs.core.model import Attempt, Outcome
from parallel_runs.core.runlog import log_parts
from parallel_runs.core.runs_query import RunsPage, RunsQuery
from parallel_runs.errors import NotFoundError
from parallel_runs.store.artifacts import ArtifactInfo
from parallel_runs.store.closing import Closing
from parallel_runs.store.local_artifacts import choose_attempt
from parallel_runs.store.records import AttemptRunning, RunEvent, RunLog
from parallel_runs.store.shared import SharedStore

__all__ = ["STORED_LOGS_KEPT", "SharedRecords"]

STORED_LOGS_KEPT = 64 * 1024 * 1024  # bytes of stored run.logs kept in memory, the latest read first


def _over() -> bool:
    return True  # a stored log no longer grows


def _stored(attempt: int | None) -> Callable[[], bool]:
    return _over


class SharedRecords(Closing):
    """`Records` of the shared store; see `records.py`."""

    where = "the shared store"
    keeps_definitions = True
    hint_when_empty = None

    def __init__(self, store: SharedStore) -> None:
        self.store = store
        # Stored logs by (run, batch, attempt): their bytes and the part to read (None: the whole log).
        self._logs: OrderedDict[tuple[str, str, int], tuple[bytes, int | None]] = OrderedDict()
        self._logs_lock = threading.Lock()

    @classmethod
    def connect(cls, url: str) -> SharedRecords:
        """Open the store at `url`; ConfigError if it is not PostgreSQL or its schema is not current."""
        return cls(SharedStore.connect(url))

    def is_worked_here(self) -> bool:
        """False: the store's queued runs say whether a batch goes on."""
        return False

    def batches(self) -> list[BatchSummary]:
        """Every batch queued, with its unfinished runs counted as `queued` or `running`."""
        return self.store.batch_summaries()

    def batch(self, batch_id: str) -> BatchDefinition | None:
        """The batch's definition as queued."""
        return self.store.get_batch(batch_id)

    def attempts(self, batch_id: str | None = None) -> list[Attempt]:
        """Every attempt (in `batch_id`, if given), by run id then number."""
        return self.store.attempts(batch_id)

    def runs_page(self, batch_id: str, query: RunsQuery) -> RunsPage:
        """One page of the batch's runs, paged in SQL."""
        return self.store.runs_page(batch_id, query)

    def run_attempts(self, run_id: str) -> list[Attempt]:
        """The run's attempts in any batch, by number."""
        return self.store.run_attempts(run_id)

    def _chosen(self, run_id: str, *, batch_id: str | None, attempt: int | None) -> Attempt:
        found = self.store.run_attempts(run_id)
        chosen = choose_attempt(found, run_id=run_id, batch_id=batch_id, attempt=attempt)
        if chosen is None:
            raise self.not_found(f"no such run {run_id!r}")
        return chosen

    def run_log(self, run_id: str, *, batch_id: str | None, attempt: int | None) -> RunLog:
        """The run.log the attempt stored when it ended (AttemptRunning until then)."""
        chosen = self._chosen(run_id, batch_id=batch_id, attempt=attempt)
        if chosen.outcome is Outcome.RUNNING:
            where = f"attempt {chosen.attempt} of run {run_id!r} is running on {chosen.host}"
            raise AttemptRunning(where, chosen)
        data, part = self._stored_log(chosen)
        return RunLog(io.BytesIO(data), part, _stored)

    def _stored_log(self, chosen: Attempt) -> tuple[bytes, int | None]:
        """The attempt's stored run.log and the part of it to read, from memory once read."""
        key = (chosen.run_id, chosen.batch_id, chosen.attempt)
        with self._logs_lock:
            if (kept := self._logs.get(key)) is not None:
                self._logs.move_to_end(key)
                return kept
        data = self.store.read_artifact(
            chosen.run_id, "run.log", batch_id=chosen.batch_id, attempt=chosen.attempt
        )
        # The stored run.log may hold earlier attempts too; one without this attempt's header is read whole.
        numbers = {part.attempt for part in log_parts(io.BytesIO(data))}
        found = (data, chosen.attempt if chosen.attempt in numbers else None)
        with self._logs_lock:
            self._logs[key] = found
            while (
                sum(len(kept[0]) for kept in self._logs.values()) > STORED_LOGS_KEPT and len(self._logs) > 1
            ):
                self._logs.popitem(last=False)  # the one read longest ago
        return found

    def artifacts(self, run_id: str, *, batch_id: str | None, attempt: int | None) -> list[ArtifactInfo]:
        """The attempt's stored files; NotFoundError saying why when there are none."""
        files = self.store.list_artifacts(run_id, batch_id=batch_id, attempt=attempt)
        if files:
            return files
        chosen = self._chosen(run_id, batch_id=batch_id, attempt=attempt)
        raise NotFoundError(
            f"attempt {chosen.attempt} of run {run_id!r} ({chosen.outcome.value}) stored no artifacts: they "
            "are stored when an attempt ends"
        )

    def copy_artifact(self, info: ArtifactInfo, destination: Path) -> None:
        """Stream the file into `destination` (written beside it, then renamed into place)."""
        self.store.copy_artifact(
            info.run_id, info.name, destination=destination, batch_id=info.batch_id, attempt=info.attempt
        )

    def open_artifact(self, info: ArtifactInfo) -> BinaryIO:
        """The file's bytes, in memory (at most the store's size cap); `copy_artifact` streams."""
        data = self.store.read_artifact(info.run_id, info.name, batch_id=info.batch_id, attempt=info.attempt)
        return io.BytesIO(data)

    def events(self, run_id: str) -> list[RunEvent]:
        """The run's events, oldest first."""
        return self.store.run_events(run_id)

    def not_found(self, what: str) -> NotFoundError:
        """`what` in the shared store."""
        return NotFoundError(f"{what} in the shared store")

    def close(self) -> None:
        """Close the store's connections."""
        self.store.close()
