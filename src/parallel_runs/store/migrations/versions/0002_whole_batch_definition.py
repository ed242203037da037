"""Batches carry their whole definition (retry delay, resume rules, test settings, grace, budget);
attempts keep the last lines of a failed attempt's output.

A worker on another machine then behaves exactly like `run` (--retry-delay and --max-batch-time
were dropped on the shared path before). The test settings include where the test command writes
its reports (--test-report) and whether an empty baseline may start the batch.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _columns() -> tuple[sa.Column[Any], ...]:
    """Fresh columns each call: a Column object belongs to one table once added."""
    return (
        sa.Column("retry_delay_seconds", sa.Float(), server_default="0", nullable=False),
        sa.Column("redo", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("only_failed", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("test_timeout_seconds", sa.Float(), nullable=True),
        sa.Column("test_retries", sa.Integer(), server_default="1", nullable=False),
        sa.Column("fail_on_regression", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("grace_seconds", sa.Float(), server_default="10", nullable=False),
        sa.Column("deadline", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("setup_command", sa.Text(), nullable=True),
        sa.Column("copy_ignored", sa.JSON(), nullable=True),
        sa.Column("halt_on_failure", sa.Integer(), nullable=True),
        sa.Column("test_reports", sa.JSON(), nullable=True),
        sa.Column("allow_empty_baseline", sa.Boolean(), server_default=sa.false(), nullable=False),
    )


def upgrade() -> None:
    """Add the definition's new columns (existing batches get the old behaviour's values)."""
    for column in _columns():
        op.add_column("batches", column)
    op.add_column("attempts", sa.Column("error_tail", sa.Text(), nullable=True))


def downgrade() -> None:
    """Drop them again."""
    op.drop_column("attempts", "error_tail")
    for column in reversed(_columns()):
        op.drop_column("batches", column.name)
