"""Which store a batch runs over: the shared PostgreSQL database, one SQLite file, or one file per run."""

from __future__ import annotations

import logging
from pathlib import Path

from parallel_runs.store.local import LocalStore
from parallel_runs.store.migrate import ensure_schema
from parallel_runs.store.protocol import Store
from parallel_runs.store.shared import SharedStore

__all__ = ["open_store"]

log = logging.getLogger(__name__)


def open_store(
    *,
    runs_dir: Path,
    database_url: str | None,
    shared_sqlite: Path | None,
    max_artifact_size: int,
    migrate: bool = False,
) -> Store:
    """Open the store the settings name; the caller closes it.

    `migrate`: create the shared store's schema on an empty database, or upgrade one that is behind,
    and say so in one line (`plan` and `run`, which queue batches; a `worker` never changes it: see
    CONTRACTS §7).
    """
    if database_url is not None:
        if migrate and (change := ensure_schema(database_url)) is not None:
            log.warning("%s", change)
        return SharedStore.connect(
            database_url, spool_dir=runs_dir / ".spool", max_artifact_size=max_artifact_size
        )
    return LocalStore(runs_dir, shared_file=shared_sqlite)
