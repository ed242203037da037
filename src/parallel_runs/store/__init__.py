"""Record stores: the per-run SQLite store (default) and the models every store shares."""

from __future__ import annotations

from parallel_runs.store.models import AttemptRecord
from parallel_runs.store.sqlite import RunStore, sqlite_url

__all__ = ["AttemptRecord", "RunStore", "sqlite_url"]
