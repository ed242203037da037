"""Batches carry every later option of their definition in one JSON column.

A definition field added after revision 0003 is stored in `batches.options` (name → JSON value)
instead of a column of its own, so a new batch option changes no schema; a worker that finds an
option its version does not know refuses the batch rather than run it without that option.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add batches.options (a nullable column without a default: a catalog change only)."""
    op.add_column("batches", sa.Column("options", sa.JSON(), nullable=True))


def downgrade() -> None:
    """Drop it again."""
    op.drop_column("batches", "options")
