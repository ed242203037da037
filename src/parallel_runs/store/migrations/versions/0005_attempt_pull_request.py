"""Attempts keep the pull request the action opened from their run's branch (issue #21).

The action records it after the batch (`Store.record_pull_request`), so the dashboard, its API
and every report format show each run's pull request from the store, not only the job summary.
Two nullable columns on the attempt that succeeded: the table the runs table is read from, so a
batch of 10,000 runs needs no second query.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add attempts.pull_request_number and attempts.pull_request_url (nullable: a catalog change only)."""
    op.add_column("attempts", sa.Column("pull_request_number", sa.Integer(), nullable=True))
    op.add_column("attempts", sa.Column("pull_request_url", sa.Text(), nullable=True))


def downgrade() -> None:
    """Drop them again."""
    op.drop_column("attempts", "pull_request_url")
    op.drop_column("attempts", "pull_request_number")
