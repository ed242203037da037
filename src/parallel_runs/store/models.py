"""SQLAlchemy models shared by every store, and the frozen record they turn into at the boundary.

Backend-neutral on purpose: the per-run SQLite store creates these tables directly, and the shared
PostgreSQL store reuses them under Alembic migrations.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import DateTime, ForeignKey, Index, Integer, MetaData, String, Text, UniqueConstraint
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from parallel_runs.core.model import Outcome

__all__ = ["AttemptModel", "AttemptRecord", "Base", "EventModel", "RunModel", "UTCDateTime"]

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
    changed_files: Mapped[int | None]


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


@dataclass(frozen=True, slots=True, kw_only=True)
class AttemptRecord:
    """One attempt as read back from a store: a frozen domain object, no session attached."""

    run_id: str
    slug: str
    attempt: int
    batch_id: str
    status: Outcome
    exit_code: int | None
    started_at: datetime
    finished_at: datetime | None
    base_sha: str
    head_sha: str | None
    branch: str
    host: str
    pid: int
    error: str | None
    changed_files: int | None = None

    @property
    def duration_seconds(self) -> float | None:
        """Wall time of the attempt, or None while it is still running."""
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()

    @classmethod
    def from_row(cls, row: AttemptModel, *, slug: str) -> AttemptRecord:
        """Copy an ORM row (and its run's slug) into a record."""
        return cls(
            run_id=row.run_id,
            slug=slug,
            attempt=row.attempt,
            batch_id=row.batch_id,
            status=Outcome(row.status),
            exit_code=row.exit_code,
            started_at=row.started_at,
            finished_at=row.finished_at,
            base_sha=row.base_sha,
            head_sha=row.head_sha,
            branch=row.branch,
            host=row.host,
            pid=row.pid,
            error=row.error,
            changed_files=row.changed_files,
        )
