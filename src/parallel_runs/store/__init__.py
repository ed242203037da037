"""Record stores behind one `Store` protocol: per-run SQLite (default), shared PostgreSQL, in-memory;
and the read side, `open_records` → `Records`, over a runs dir or the shared store."""

from __future__ import annotations

from parallel_runs.core.batch import BatchDefinition
from parallel_runs.store.artifacts import DEFAULT_MAX_ARTIFACT_SIZE, ArtifactInfo
from parallel_runs.store.batches import BatchRunRecord
from parallel_runs.store.database import ReconnectPolicy, UnavailableError
from parallel_runs.store.heartbeat import LeaseKeeper
from parallel_runs.store.local import LocalStore
from parallel_runs.store.memory import MemoryStore
from parallel_runs.store.migrate import upgrade
from parallel_runs.store.opening import open_records, open_store
from parallel_runs.store.protocol import AttemptHistory, Claim, LeaseOwner, Store
from parallel_runs.store.records import AttemptRunning, Records, RunEvent, RunLog
from parallel_runs.store.shared import DEFAULT_LEASE_TTL, SharedStore
from parallel_runs.store.spool import SpoolReport
from parallel_runs.store.sqlite import RunStore
from parallel_runs.store.urls import mask_url

__all__ = [
    "DEFAULT_LEASE_TTL",
    "DEFAULT_MAX_ARTIFACT_SIZE",
    "ArtifactInfo",
    "AttemptHistory",
    "AttemptRunning",
    "BatchDefinition",
    "BatchRunRecord",
    "Claim",
    "LeaseKeeper",
    "LeaseOwner",
    "LocalStore",
    "MemoryStore",
    "ReconnectPolicy",
    "Records",
    "RunEvent",
    "RunLog",
    "RunStore",
    "SharedStore",
    "SpoolReport",
    "Store",
    "UnavailableError",
    "mask_url",
    "open_records",
    "open_store",
    "upgrade",
]
