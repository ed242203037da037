"""The shared store: runs, attempts, events, batches and their leases, artifacts, test results.

Revision ID: 0001
Revises:
Create Date: 2026-01-20
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def _create_run_tables() -> None:
    """The tables every store has (the per-run SQLite files create the same ones)."""
    op.create_table(
        "runs",
        sa.Column("run_id", sa.String(128), nullable=False),
        sa.Column("slug", sa.String(255), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("run_id", name="pk_runs"),
        sa.UniqueConstraint("slug", name="uq_runs_slug"),
    )
    op.create_table(
        "attempts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(128), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.String(128), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("exit_code", sa.Integer(), nullable=True),
        sa.Column("started_at", _TS, nullable=False),
        sa.Column("finished_at", _TS, nullable=True),
        sa.Column("base_sha", sa.String(64), nullable=False),
        sa.Column("head_sha", sa.String(64), nullable=True),
        sa.Column("branch", sa.String(255), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("changed_files", sa.Integer(), nullable=True),
        sa.Column("tests", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_attempts"),
        sa.UniqueConstraint("run_id", "attempt", name="uq_attempts_run_id"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.run_id"], name="fk_attempts_run_id_runs"),
    )
    op.create_index("ix_attempts_batch_id", "attempts", ["batch_id"])


def _create_events() -> None:
    """Timestamped notes about attempts."""
    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(128), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("at", _TS, nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_events"),
    )
    op.create_index("ix_events_run_id_attempt", "events", ["run_id", "attempt"])


def _create_batch_tables() -> None:
    """Batches with their whole definition."""
    op.create_table(
        "batches",
        sa.Column("batch_id", sa.String(128), nullable=False),
        sa.Column("run_ids", sa.JSON(), nullable=False),
        sa.Column("command_shell", sa.Text(), nullable=True),
        sa.Column("command_argv", sa.JSON(), nullable=True),
        sa.Column("test_command", sa.Text(), nullable=True),
        sa.Column("timeout_seconds", sa.Float(), nullable=True),
        sa.Column("retries", sa.Integer(), nullable=False),
        sa.Column("base_sha", sa.String(64), nullable=False),
        sa.Column("created_at", _TS, server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("batch_id", name="pk_batches"),
    )


def _create_leases() -> None:
    """One queue and lease row per run of a batch."""
    op.create_table(
        "batch_runs",
        sa.Column("batch_id", sa.String(128), nullable=False),
        sa.Column("run_id", sa.String(128), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(16), server_default="pending", nullable=False),
        sa.Column("outcome", sa.String(32), nullable=True),
        sa.Column("attempt", sa.Integer(), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("fencing_token", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("claim_key", sa.String(64), nullable=True),
        sa.Column("owner_host", sa.String(255), nullable=True),
        sa.Column("owner_pid", sa.Integer(), nullable=True),
        sa.Column("owner_worker", sa.String(255), nullable=True),
        sa.Column("claimed_at", _TS, nullable=True),
        sa.Column("heartbeat_at", _TS, nullable=True),
        sa.Column("expires_at", _TS, nullable=True),
        sa.Column("finished_at", _TS, nullable=True),
        sa.PrimaryKeyConstraint("batch_id", "run_id", name="pk_batch_runs"),
        sa.CheckConstraint("state IN ('pending', 'claimed', 'finished')", name="ck_batch_runs_state"),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["batches.batch_id"], name="fk_batch_runs_batch_id_batches", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["run_id"], ["runs.run_id"], name="fk_batch_runs_run_id_runs"),
    )
    op.create_index("ix_batch_runs_queue", "batch_runs", ["batch_id", "state", "position"])
    op.create_index("ix_batch_runs_run_id", "batch_runs", ["run_id"])


def _create_artifact_tables() -> None:
    """Content-addressed blobs and the index of which attempt left which file."""
    op.create_table(
        "artifact_blobs",
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("compressed_size", sa.BigInteger(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", _TS, server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("sha256", name="pk_artifact_blobs"),
    )
    # The bytes are gzip already: TOAST compressing them again only costs CPU.
    op.execute("ALTER TABLE artifact_blobs ALTER COLUMN data SET STORAGE EXTERNAL")
    op.create_table(
        "attempt_artifacts",
        sa.Column("run_id", sa.String(128), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("batch_id", sa.String(128), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("skipped", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("stored_at", _TS, server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "attempt", "name", name="pk_attempt_artifacts"),
        sa.ForeignKeyConstraint(
            ["run_id", "attempt"],
            ["attempts.run_id", "attempts.attempt"],
            name="fk_attempt_artifacts_run_id_attempts",
        ),
        sa.ForeignKeyConstraint(
            ["sha256"], ["artifact_blobs.sha256"], name="fk_attempt_artifacts_sha256_artifact_blobs"
        ),
    )
    op.create_index("ix_attempt_artifacts_batch_id", "attempt_artifacts", ["batch_id"])


def _create_test_results() -> None:
    """Placeholder for test baseline tracking (#5): one row per test and phase."""
    op.create_table(
        "test_results",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("batch_id", sa.String(128), nullable=False),
        sa.Column("run_id", sa.String(128), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("test_id", sa.Text(), nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("phase", sa.String(16), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_test_results"),
        sa.CheckConstraint("phase IN ('baseline', 'after')", name="ck_test_results_phase"),
    )
    op.create_index("ix_test_results_run_id_attempt", "test_results", ["run_id", "attempt"])


def upgrade() -> None:
    """Create the whole shared schema."""
    _create_run_tables()
    _create_events()
    _create_batch_tables()
    _create_leases()
    _create_artifact_tables()
    _create_test_results()


def downgrade() -> None:
    """Drop the whole shared schema."""
    for table in (
        "test_results",
        "attempt_artifacts",
        "artifact_blobs",
        "batch_runs",
        "batches",
        "events",
        "attempts",
        "runs",
    ):
        op.drop_table(table)
