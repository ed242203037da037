"""Which store a batch runs over: the shared PostgreSQL database, one SQLite file, or one file per run."""

from __future__ import annotations

from pathlib import Path

from parallel_runs.store.local import LocalStore
from parallel_runs.store.protocol import Store
from parallel_runs.store.shared import SharedStore

__all__ = ["open_store"]


def open_store(
    *, runs_dir: Path, database_url: str | None, shared_sqlite: Path | None, max_artifact_size: int
) -> Store:
    """Open the store the settings name; the caller closes it."""
    if database_url is not None:
        return SharedStore.connect(
            database_url, spool_dir=runs_dir / ".spool", max_artifact_size=max_artifact_size
        )
    return LocalStore(runs_dir, shared_file=shared_sqlite)
