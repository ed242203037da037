"""The per-run SQLite store's write statements, built once (Core tables, parameters prefixed `p_`).

Built per call from the ORM models, they cost each run about a millisecond of CPU in SQLAlchemy
(P1: what a run costs on top of git).
"""

from __future__ import annotations

from typing import cast

from sqlalchemy import JSON, Table, bindparam, insert, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from parallel_runs.core.model import Outcome
from parallel_runs.store.models import AttemptModel, RunModel, UTCDateTime

__all__ = ["BEGIN", "ENSURE_RUN", "FINISH", "RECORD", "UPGRADES"]

_RUNS = cast(Table, RunModel.__table__)
_ATTEMPTS = cast(Table, AttemptModel.__table__)
# Only a clash on run_id is expected; a slug taken by another run id still raises.
ENSURE_RUN = (
    sqlite_insert(_RUNS)
    .values(
        run_id=bindparam("p_run"), slug=bindparam("p_slug"), created_at=bindparam("p_at", type_=UTCDateTime())
    )
    .on_conflict_do_nothing(index_elements=[_RUNS.c.run_id])
)
BEGIN = insert(_ATTEMPTS).values(
    run_id=bindparam("p_run"),
    attempt=bindparam("p_attempt"),
    batch_id=bindparam("p_batch"),
    status=Outcome.RUNNING.value,
    started_at=bindparam("p_started_at", type_=UTCDateTime()),
    base_sha=bindparam("p_base_sha"),
    branch=bindparam("p_branch"),
    host=bindparam("p_host"),
    pid=bindparam("p_pid"),
)
_RESULT = {
    "batch_id": bindparam("p_batch"),
    "status": bindparam("p_status"),
    "exit_code": bindparam("p_exit_code"),
    "started_at": bindparam("p_started_at", type_=UTCDateTime()),
    "finished_at": bindparam("p_finished_at", type_=UTCDateTime()),
    "base_sha": bindparam("p_base_sha"),
    "head_sha": bindparam("p_head_sha"),
    "branch": bindparam("p_branch"),
    "host": bindparam("p_host"),
    "pid": bindparam("p_pid"),
    "error": bindparam("p_error"),
    "error_tail": bindparam("p_error_tail"),
    "changed_files": bindparam("p_changed_files"),
    "tests": bindparam("p_tests", type_=JSON()),
}
_THE_ATTEMPT = (_ATTEMPTS.c.run_id == bindparam("p_run"), _ATTEMPTS.c.attempt == bindparam("p_attempt"))
FINISH = update(_ATTEMPTS).where(*_THE_ATTEMPT).values(_RESULT)
# A result whose attempt never began here (skipped, held: decided before anything began).
RECORD = insert(_ATTEMPTS).values(run_id=bindparam("p_run"), attempt=bindparam("p_attempt"), **_RESULT)
# What brings an older store up to the current schema, by the version it is at.
_PULL_REQUEST = (
    "ALTER TABLE attempts ADD COLUMN pull_request_number INTEGER",
    "ALTER TABLE attempts ADD COLUMN pull_request_url TEXT",
)
UPGRADES = {3: ("ALTER TABLE attempts ADD COLUMN error_tail TEXT", *_PULL_REQUEST), 4: _PULL_REQUEST}
