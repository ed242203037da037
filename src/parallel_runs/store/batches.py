"""Batches in the shared store: their whole definition, and the queue row of each of their runs."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from datetime import datetime
from typing import Any

from sqlalchemy import exists, func, select, text, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from parallel_runs.core.batch import BatchDefinition, BatchSummary
from parallel_runs.core.command import CommandSpec
from parallel_runs.core.ids import slugify
from parallel_runs.core.suite import TestSpec
from parallel_runs.errors import ConfigError
from parallel_runs.store.leases import FINISHED
from parallel_runs.store.models import AttemptModel, BatchModel, BatchRunModel, RunModel, pg_insert

__all__ = ["BatchRunRecord", "insert_batch", "read_batch", "read_batch_runs", "read_batch_summaries"]


@dataclass(frozen=True, slots=True, kw_only=True)
class BatchRunRecord:
    """One run of a batch as the queue sees it: state, latest outcome, lease."""

    batch_id: str
    run_id: str
    position: int
    state: str  # pending | claimed | finished
    outcome: str | None
    attempt: int | None
    attempts: int
    fencing_token: int
    owner_host: str | None
    owner_pid: int | None
    owner_worker: str | None
    expires_at: datetime | None
    finished_at: datetime | None


# The definition's fields with a column of their own (revisions 0001-0003). A field added later
# travels in `batches.options` by name, so a new batch option needs no migration.
_COLUMNS = frozenset({
    "batch_id", "run_ids", "command", "base_sha", "timeout", "retries", "retry_delay", "redo",
    "only_failed", "tests", "fail_on_regression", "grace", "setup", "copy_ignored",
    "halt_on_failure", "tasks", "deadline", "created_at",
})  # fmt: skip


def _options(definition: BatchDefinition) -> dict[str, Any] | None:
    """The definition's fields without a column, as JSON values (a tuple becomes a list)."""
    found = {
        field.name: list(value) if isinstance(value := getattr(definition, field.name), tuple) else value
        for field in fields(definition)
        if field.name not in _COLUMNS
    }
    return found or None


def _optional_fields(row: BatchModel) -> dict[str, Any]:
    """`options` as definition fields; one this version does not know refuses the batch (running
    it without that option would not be the batch that was asked for)."""
    stored = row.options or {}
    if unknown := sorted(set(stored) - {field.name for field in fields(BatchDefinition)}):
        raise ConfigError(
            f"batch {row.batch_id!r} uses options this version of parallel-runs does not know "
            f"({', '.join(unknown)}): upgrade parallel-runs here to work it"
        )
    return {name: tuple(value) if isinstance(value, list) else value for name, value in stored.items()}


def _definition(row: BatchModel) -> BatchDefinition:
    shell, argv = row.command_shell, row.command_argv
    tests = None
    if row.test_command is not None:
        tests = TestSpec(
            command=CommandSpec(shell=row.test_command),
            timeout=row.test_timeout_seconds,
            retries=row.test_retries,
            reports=tuple(row.test_reports or ()),
            allow_empty_baseline=row.allow_empty_baseline,
        )
    return BatchDefinition(
        batch_id=row.batch_id,
        run_ids=tuple(row.run_ids),
        command=CommandSpec(shell=shell) if shell is not None else CommandSpec(argv=tuple(argv or ())),
        base_sha=row.base_sha,
        timeout=row.timeout_seconds,
        retries=row.retries,
        retry_delay=row.retry_delay_seconds,
        redo=row.redo,
        only_failed=row.only_failed,
        tests=tests,
        fail_on_regression=row.fail_on_regression,
        grace=row.grace_seconds,
        setup=CommandSpec(shell=row.setup_command) if row.setup_command is not None else None,
        copy_ignored=tuple(row.copy_ignored or ()),
        halt_on_failure=row.halt_on_failure,
        tasks=tuple(row.tasks or ()),
        deadline=row.deadline,
        created_at=row.created_at,
        **_optional_fields(row),
    )


def read_batch(conn: Connection, batch_id: str) -> BatchDefinition | None:
    """The definition of a batch, or None if the store has no such batch."""
    with Session(conn) as session:
        row = session.scalars(select(BatchModel).where(BatchModel.batch_id == batch_id)).one_or_none()
        return None if row is None else _definition(row)


# SKIP_LOCKED: never wait (behind a VACUUM, or another batch's creation): unanalyzed is only slower.
_ANALYZE_QUEUE = text("ANALYZE (SKIP_LOCKED) batch_runs")


def insert_batch(conn: Connection, definition: BatchDefinition) -> BatchDefinition:
    """Create a batch and queue its runs; an identical existing batch is returned as is."""
    slugs = [slugify(run_id) for run_id in definition.run_ids]  # refuses invalid ids before writing
    command = definition.command
    statement = (
        pg_insert(BatchModel)
        .values(
            batch_id=definition.batch_id,
            run_ids=list(definition.run_ids),
            command_shell=command.shell,
            command_argv=list(command.argv) if command.shell is None else None,
            test_command=definition.test_command,
            timeout_seconds=definition.timeout,
            retries=definition.retries,
            base_sha=definition.base_sha,
            retry_delay_seconds=definition.retry_delay,
            redo=definition.redo,
            only_failed=definition.only_failed,
            test_timeout_seconds=definition.tests.timeout if definition.tests else None,
            test_retries=definition.tests.retries if definition.tests else 1,
            test_reports=list(definition.tests.reports) if definition.tests else None,
            allow_empty_baseline=definition.tests.allow_empty_baseline if definition.tests else False,
            fail_on_regression=definition.fail_on_regression,
            grace_seconds=definition.grace,
            setup_command=definition.setup.shell if definition.setup else None,
            copy_ignored=list(definition.copy_ignored) or None,
            halt_on_failure=definition.halt_on_failure,
            tasks=list(definition.tasks) or None,
            deadline=definition.deadline,
            options=_options(definition),
        )
        .on_conflict_do_nothing(index_elements=[BatchModel.batch_id])
        .returning(BatchModel)
    )
    with Session(conn) as session:
        row = session.scalars(statement).first()
        inserted = None if row is None else _definition(row)  # as stored, with its creation time
    if inserted is None:
        return _rerun(conn, definition)
    _queue_runs(conn, definition, slugs=slugs)
    # The planner's statistics know nothing of a new batch's runs until autovacuum analyzes the table
    # (a minute or more, and never before on a fresh database): until then it reads the whole batch
    # for each claim and result it looks up (P6). Runs inside this transaction, its rows counted.
    conn.execute(_ANALYZE_QUEUE)
    return inserted


def _rerun(conn: Connection, definition: BatchDefinition) -> BatchDefinition:
    """The same batch run again: its latest `run` sets the resume rules and the budget."""
    existing = read_batch(conn, definition.batch_id)
    if existing is None:  # pragma: no cover - a conflicting row vanished: deleted concurrently
        raise ConfigError(f"batch {definition.batch_id!r} was deleted while being created")
    if differing := existing.differences(definition):
        raise ConfigError(
            f"batch {definition.batch_id!r} already exists with a different definition "
            f"({', '.join(differing)}); choose another --batch-id"
        )
    conn.execute(
        update(BatchModel)
        .where(BatchModel.batch_id == definition.batch_id)
        .values(redo=definition.redo, only_failed=definition.only_failed, deadline=definition.deadline)
    )
    return replace(
        existing, redo=definition.redo, only_failed=definition.only_failed, deadline=definition.deadline
    )


def _queue_runs(conn: Connection, definition: BatchDefinition, *, slugs: list[str]) -> None:
    """The runs (known to every batch) and this batch's queue rows, in batch order."""
    conn.execute(
        pg_insert(RunModel).values(created_at=func.now()).on_conflict_do_nothing(index_elements=["run_id"]),
        [{"run_id": run_id, "slug": slug} for run_id, slug in zip(definition.run_ids, slugs, strict=True)],
    )
    conn.execute(
        pg_insert(BatchRunModel),
        [
            {"batch_id": definition.batch_id, "run_id": run_id, "position": position}
            for position, run_id in enumerate(definition.run_ids)
        ],
    )


def read_batch_runs(conn: Connection, batch_id: str) -> list[BatchRunRecord]:
    """Every run of a batch in its queue order."""
    query = select(BatchRunModel).where(BatchRunModel.batch_id == batch_id).order_by(BatchRunModel.position)
    with Session(conn) as session:
        return [_run_record(row) for row in session.scalars(query)]


_STATE_NAMES = {"pending": "queued", "claimed": "running"}


def read_batch_summaries(conn: Connection) -> list[BatchSummary]:
    """Every batch with its runs counted by queue state (finished ones by outcome), oldest first."""
    created = {
        row.batch_id: row.created_at
        for row in conn.execute(select(BatchModel.batch_id, BatchModel.created_at))
    }
    counts: dict[str, dict[str, int]] = {batch_id: {} for batch_id in created}
    last: dict[str, datetime] = {}
    rows = conn.execute(
        select(
            BatchRunModel.batch_id,
            BatchRunModel.state,
            BatchRunModel.outcome,
            func.count(),
            func.max(func.coalesce(BatchRunModel.finished_at, BatchRunModel.claimed_at)),
        ).group_by(BatchRunModel.batch_id, BatchRunModel.state, BatchRunModel.outcome)
    )
    for batch_id, state, outcome, number, latest in rows:
        name = _STATE_NAMES.get(state) or outcome or state
        counts[batch_id][name] = counts[batch_id].get(name, 0) + number
        if latest is not None and (batch_id not in last or latest > last[batch_id]):
            last[batch_id] = latest
    hosts: dict[str, list[str]] = {}
    for batch_id, host in conn.execute(select(AttemptModel.batch_id, AttemptModel.host).distinct()):
        hosts.setdefault(batch_id, []).append(host)
    summaries = [
        BatchSummary(
            batch_id=b,
            counts=counts[b],
            first=created[b],
            last=last.get(b),
            hosts=tuple(sorted(hosts.get(b, ()))),
        )
        for b in created
    ]
    return sorted(summaries, key=lambda summary: (summary.first is None, summary.first, summary.batch_id))


def is_batch_finished(conn: Connection, batch_id: str) -> bool:
    """True when no run of the batch is pending or claimed (one indexed EXISTS, not a full read)."""
    unfinished = select(BatchRunModel.run_id).where(
        BatchRunModel.batch_id == batch_id, BatchRunModel.state != FINISHED
    )
    return not conn.execute(select(exists(unfinished))).scalar_one()


def _run_record(row: BatchRunModel) -> BatchRunRecord:
    return BatchRunRecord(
        batch_id=row.batch_id,
        run_id=row.run_id,
        position=row.position,
        state=row.state,
        outcome=row.outcome,
        attempt=row.attempt,
        attempts=row.attempts,
        fencing_token=row.fencing_token,
        owner_host=row.owner_host,
        owner_pid=row.owner_pid,
        owner_worker=row.owner_worker,
        expires_at=row.expires_at,
        finished_at=row.finished_at,
    )
