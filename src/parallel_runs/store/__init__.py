"""Record stores: the per-run SQLite store (default), the shared PostgreSQL store, their models."""

from __future__ import annotations

from parallel_runs.store.artifacts import DEFAULT_MAX_ARTIFACT_SIZE, ArtifactInfo
from parallel_runs.store.batches import BatchDefinition, BatchRunRecord
from parallel_runs.store.database import ReconnectPolicy, UnavailableError
from parallel_runs.store.heartbeat import LeaseKeeper
from parallel_runs.store.leases import Claim, LeaseOwner
from parallel_runs.store.migrate import upgrade
from parallel_runs.store.models import AttemptRecord
from parallel_runs.store.shared import DEFAULT_LEASE_TTL, SharedStore
from parallel_runs.store.spool import SpoolReport
from parallel_runs.store.sqlite import RunStore
from parallel_runs.store.urls import mask_url

__all__ = [
    "DEFAULT_LEASE_TTL",
    "DEFAULT_MAX_ARTIFACT_SIZE",
    "ArtifactInfo",
    "AttemptRecord",
    "BatchDefinition",
    "BatchRunRecord",
    "Claim",
    "LeaseKeeper",
    "LeaseOwner",
    "ReconnectPolicy",
    "RunStore",
    "SharedStore",
    "SpoolReport",
    "UnavailableError",
    "mask_url",
    "upgrade",
]
