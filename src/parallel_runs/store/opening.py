"""Which store a batch runs over (the shared PostgreSQL database, one SQLite file, or one file per run),
and which records a reader reads back (`open_records`)."""

from __future__ import annotations

from pathlib import Path

from parallel_runs.store.local import LocalStore
from parallel_runs.store.local_records import LocalRecords
from parallel_runs.store.protocol import Store
from parallel_runs.store.records import Records
from parallel_runs.store.shared import SharedStore
from parallel_runs.store.shared_records import SharedRecords

__all__ = ["open_records", "open_store"]


def open_store(
    *, runs_dir: Path, database_url: str | None, shared_sqlite: Path | None, max_artifact_size: int
) -> Store:
    """Open the store the settings name; the caller closes it."""
    if database_url is not None:
        return SharedStore.connect(
            database_url, spool_dir=runs_dir / ".spool", max_artifact_size=max_artifact_size
        )
    return LocalStore(runs_dir, shared_file=shared_sqlite)


def open_records(location: Path | str, *, store_file: Path | None = None) -> Records:
    """The records `location` holds, read-only: a `postgresql://` URL's shared store, else a runs dir.

    `store_file`: with a runs dir, the one SQLite file its runs were recorded in (`run --database-url
    sqlite:///FILE`); their logs and artifacts stay in the runs dir.
    """
    if isinstance(location, str):
        return SharedRecords.connect(location)
    return LocalRecords(location, store_file=store_file)
