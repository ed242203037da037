"""Batches carry their tasks (`--tasks`): each run's task, so a worker on another machine, which has
only the database, gives its run the same task file and variables as `run` would.

One nullable JSON column (a list of JSON texts in the order of run_ids); batches without tasks keep
NULL. Adding a nullable column without a default is a catalog change only: no table rewrite.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add batches.tasks."""
    op.add_column("batches", sa.Column("tasks", sa.JSON(), nullable=True))


def downgrade() -> None:
    """Drop it again."""
    op.drop_column("batches", "tasks")
