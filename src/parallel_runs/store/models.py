"""SQLAlchemy models shared by every store (rows become Attempts in `rows.py`).

Backend-neutral on purpose: the per-run SQLite store creates the `Base` tables directly, and the
shared PostgreSQL store reuses them under Alembic migrations. Tables only the shared store has
(batches, leases, artifacts, test results) live on `SharedBase`, whose metadata also holds copies
of the `Base` tables: one schema for Alembic, and per-run SQLite files stay as small as before.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
    func,
    true,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

if TYPE_CHECKING:
    from sqlalchemy.dialects.postgresql import Insert

__all__ = [
    "ArtifactBlobModel",
    "AttemptArtifactModel",
    "AttemptModel",
    "Base",
    "BatchModel",
    "BatchRunModel",
    "EventModel",
    "RunModel",
    "SharedBase",
    "TestResultModel",
    "UTCDateTime",
    "pg_insert",
]

# Stable constraint names so Alembic autogenerate and hand-written migrations agree.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps no offset, so we store UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Refuse naive datetimes; hand SQLite naive UTC, others aware UTC."""
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: the store only accepts timezone-aware datetimes")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Every datetime read back is aware and in UTC."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base of the store's tables."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime}


class RunModel(Base):
    """One run (a run id and its slug)."""

    __tablename__ = "runs"

    run_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    slug: Mapped[str] = mapped_column(String(255), unique=True)
    created_at: Mapped[datetime]


class AttemptModel(Base):
    """One attempt of one run; `status` holds an `Outcome` value (`running` while in progress)."""

    __tablename__ = "attempts"
    __table_args__ = (UniqueConstraint("run_id", "attempt"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(String(128), ForeignKey("runs.run_id"))
    attempt: Mapped[int]
    batch_id: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(32))
    exit_code: Mapped[int | None]
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    base_sha: Mapped[str] = mapped_column(String(64))
    head_sha: Mapped[str | None] = mapped_column(String(64))
    branch: Mapped[str] = mapped_column(String(255))
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int]
    error: Mapped[str | None] = mapped_column(Text)
    error_tail: Mapped[str | None] = mapped_column(Text)  # the last lines of a failed attempt's output
    changed_files: Mapped[int | None]
    tests: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # the test delta summary (issue #5)
    # The pull request the action opened from the run's branch after this attempt (issue #21).
    pull_request_number: Mapped[int | None]
    pull_request_url: Mapped[str | None] = mapped_column(Text)


class EventModel(Base):
    """A timestamped note about an attempt (lease taken, command started, ...)."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_run_id_attempt", "run_id", "attempt"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(String(128))
    attempt: Mapped[int]
    at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(64))
    message: Mapped[str] = mapped_column(Text)


# --- tables of the shared PostgreSQL store only ---------------------------------------------------


class SharedBase(DeclarativeBase):
    """Declarative base of the shared store's own tables (per-run SQLite files never create them)."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime}


for _table in Base.metadata.sorted_tables:
    _table.to_metadata(SharedBase.metadata)
# Reports and claims read a batch's attempts; the per-run files need no such index.
Index("ix_attempts_batch_id", SharedBase.metadata.tables["attempts"].c.batch_id)


class BatchModel(SharedBase):
    """A batch and its whole definition, so any worker runs exactly the same thing."""

    __tablename__ = "batches"

    batch_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    run_ids: Mapped[list[str]] = mapped_column(JSON)
    command_shell: Mapped[str | None] = mapped_column(Text)
    command_argv: Mapped[list[str] | None] = mapped_column(JSON)
    test_command: Mapped[str | None] = mapped_column(Text)
    timeout_seconds: Mapped[float | None]
    retries: Mapped[int]
    base_sha: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    retry_delay_seconds: Mapped[float] = mapped_column(server_default="0")
    redo: Mapped[bool] = mapped_column(server_default=false())
    only_failed: Mapped[bool] = mapped_column(server_default=false())
    test_timeout_seconds: Mapped[float | None]
    test_retries: Mapped[int] = mapped_column(server_default="1")
    fail_on_regression: Mapped[bool] = mapped_column(server_default=true())
    grace_seconds: Mapped[float] = mapped_column(server_default="10")
    deadline: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]  # `parallel-runs cancel`: every worker stops the batch
    setup_command: Mapped[str | None] = mapped_column(Text)
    copy_ignored: Mapped[list[str] | None] = mapped_column(JSON)
    halt_on_failure: Mapped[int | None]
    test_reports: Mapped[list[str] | None] = mapped_column(JSON)  # --test-report globs
    allow_empty_baseline: Mapped[bool] = mapped_column(server_default=false())
    # --tasks: each run's task (its JSON text), in the order of run_ids; NULL without tasks
    tasks: Mapped[list[str] | None] = mapped_column(JSON)
    # Every definition field added after revision 0003, by name (store/batches.py `_COLUMNS`).
    options: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class BatchRunModel(SharedBase):
    """One run of one batch: its queue state and its lease (owner, expiry, fencing token)."""

    __tablename__ = "batch_runs"
    __table_args__ = (
        CheckConstraint("state IN ('pending', 'claimed', 'finished')", name="state"),
        Index("ix_batch_runs_queue", "batch_id", "state", "position"),
        Index("ix_batch_runs_run_id", "run_id"),
    )

    batch_id: Mapped[str] = mapped_column(
        String(128), ForeignKey("batches.batch_id", ondelete="CASCADE"), primary_key=True
    )
    run_id: Mapped[str] = mapped_column(String(128), ForeignKey("runs.run_id"), primary_key=True)
    position: Mapped[int]
    state: Mapped[str] = mapped_column(String(16), server_default="pending")
    outcome: Mapped[str | None] = mapped_column(String(32))
    attempt: Mapped[int | None]  # the attempt number of the latest claim
    attempts: Mapped[int] = mapped_column(server_default="0")  # claims made in this batch
    fencing_token: Mapped[int] = mapped_column(BigInteger, server_default="0")
    claim_key: Mapped[str | None] = mapped_column(String(64))  # lets a retried claim find its commit
    owner_host: Mapped[str | None] = mapped_column(String(255))
    owner_pid: Mapped[int | None]
    owner_worker: Mapped[str | None] = mapped_column(String(255))
    claimed_at: Mapped[datetime | None]
    heartbeat_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class ArtifactBlobModel(SharedBase):
    """One file content, gzip-compressed, stored once whichever runs produced it."""

    __tablename__ = "artifact_blobs"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    compressed_size: Mapped[int] = mapped_column(BigInteger)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class AttemptArtifactModel(SharedBase):
    """A file an attempt left in its artifacts dir: its content, or why it was skipped."""

    __tablename__ = "attempt_artifacts"
    __table_args__ = (
        ForeignKeyConstraint(["run_id", "attempt"], ["attempts.run_id", "attempts.attempt"]),
        Index("ix_attempt_artifacts_batch_id", "batch_id"),
    )

    run_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    attempt: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(Text, primary_key=True)  # POSIX path relative to the artifacts dir
    batch_id: Mapped[str] = mapped_column(String(128))
    sha256: Mapped[str | None] = mapped_column(String(64), ForeignKey("artifact_blobs.sha256"))
    size: Mapped[int] = mapped_column(BigInteger)
    skipped: Mapped[bool] = mapped_column(Boolean, server_default="false")
    stored_at: Mapped[datetime] = mapped_column(server_default=func.now())


class TestResultModel(SharedBase):
    """One test's outcome before (baseline) or after an attempt; filled by test tracking (#5)."""

    __test__ = False  # not a pytest class, whatever its name says
    __tablename__ = "test_results"
    __table_args__ = (
        CheckConstraint("phase IN ('baseline', 'after')", name="phase"),
        Index("ix_test_results_run_id_attempt", "run_id", "attempt"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    batch_id: Mapped[str] = mapped_column(String(128))
    run_id: Mapped[str] = mapped_column(String(128))
    attempt: Mapped[int]
    test_id: Mapped[str] = mapped_column(Text)
    outcome: Mapped[str] = mapped_column(String(32))
    phase: Mapped[str] = mapped_column(String(16))


def pg_insert(model: type[Base] | type[SharedBase]) -> Insert:
    """PostgreSQL's INSERT (for ON CONFLICT), its dialect imported at first use: the import costs
    about 60 ms of CPU that every process on a per-run SQLite store would pay for nothing."""
    from sqlalchemy.dialects.postgresql import insert  # noqa: PLC0415 - see the docstring

    return insert(model)
