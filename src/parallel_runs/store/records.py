"""The read side: what a location holds, read back through one protocol whatever the store.

`open_records(location)` (`opening.py`) opens a runs dir (its per-run SQLite files and the batches
refused there) or a `postgresql://` URL (the shared store), and returns `Records`. Every command that reads
records back (`report`, `batches`, `logs`, `artifacts`, the action's report) goes through it, so a
reader never asks which store it has. Writing goes through the `Store` protocol (`protocol.py`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, Protocol, Self

from parallel_runs.core.batch import BatchDefinition, BatchSummary
from parallel_runs.core.model import Attempt
from parallel_runs.core.runs_query import RunsPage, RunsQuery
from parallel_runs.errors import NotFoundError
from parallel_runs.store.artifacts import ArtifactInfo

__all__ = ["AttemptRunning", "Records", "RunEvent", "RunLog"]


@dataclass(frozen=True, slots=True)
class RunLog:
    """A run.log to read one attempt's part of: the whole file, from its start."""

    stream: BinaryIO  # the caller closes it
    attempt: int | None  # the part to read; None: the last part
    # For following the part of attempt N (the number in its header): a check, True once N ended
    # (the file may grow until then).
    watch: Callable[[int | None], Callable[[], bool]]


@dataclass(frozen=True, slots=True, kw_only=True)
class RunEvent:
    """A timestamped note about an attempt (its lease taken, taken over, ...)."""

    run_id: str
    attempt: int
    at: datetime
    kind: str
    message: str


class AttemptRunning(NotFoundError):
    """The attempt asked for still runs elsewhere: its run.log is stored when it ends."""

    def __init__(self, message: str, attempt: Attempt) -> None:
        super().__init__(message)
        self.attempt = attempt


class Records(Protocol):
    """Read-only access to the records of one location; `close` (or `with`) releases it."""

    @property
    def where(self) -> str:
        """The location, for messages: the runs dir (or its store file), or "the shared store"."""
        ...

    @property
    def keeps_definitions(self) -> bool:
        """False for a runs dir, which keeps no batch's definition (`batch` is None there)."""
        ...

    @property
    def hint_when_empty(self) -> str | None:
        """Where else runs may be recorded, said when nothing was found here."""
        ...

    def is_worked_here(self) -> bool:
        """True while a process works a batch of its own queue over this location (a runs dir's `run`:
        between two of its runs nothing is running, yet the batch goes on); the shared store, which
        counts its queued runs, says False."""
        ...

    def batches(self) -> list[BatchSummary]:
        """Every batch, oldest first, its runs counted by the outcome of their latest attempt in it;
        a batch refused before any run started is listed `refused` with why."""
        ...

    def batch(self, batch_id: str) -> BatchDefinition | None:
        """The batch's definition, as queued; None when unknown (or not kept here)."""
        ...

    def attempts(self, batch_id: str | None = None) -> list[Attempt]:
        """Every attempt (in `batch_id`, if given) with its test summary, by run id then number."""
        ...

    def runs_page(self, batch_id: str, query: RunsQuery) -> RunsPage:
        """One page of the batch's runs (each its latest attempt in the batch), filtered and sorted as
        `query` asks, with how many matched and the batch's total and hosts (`core/runs_query.py`)."""
        ...

    def run_attempts(self, run_id: str) -> list[Attempt]:
        """One run's attempts in any batch, by number ([] when the run is unknown)."""
        ...

    def run_log(self, run_id: str, *, batch_id: str | None, attempt: int | None) -> RunLog:
        """The run.log holding the attempt asked for (default: the latest, in `batch_id` if given).

        NotFoundError when the run or attempt is unknown; AttemptRunning when its log is not here yet.
        """
        ...

    def artifacts(self, run_id: str, *, batch_id: str | None, attempt: int | None) -> list[ArtifactInfo]:
        """The files the attempt left (default: the latest); NotFoundError saying why there are none."""
        ...

    def copy_artifact(self, info: ArtifactInfo, destination: Path) -> None:
        """Write one listed file to `destination`, which only appears once complete."""
        ...

    def open_artifact(self, info: ArtifactInfo) -> BinaryIO:
        """One listed file, open for reading; the caller closes it."""
        ...

    def events(self, run_id: str) -> list[RunEvent]:
        """What happened to the run's attempts besides their outcome, oldest first."""
        ...

    def not_found(self, what: str) -> NotFoundError:
        """The error for something this location does not hold, saying where it looked."""
        ...

    def close(self) -> None:
        """Release the location (a database's connections)."""
        ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...
