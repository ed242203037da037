"""Alembic environment: runs on the connection `parallel_runs.store.migrate` hands it."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from parallel_runs.store.models import SharedBase


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=SharedBase.metadata, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if not isinstance(connection, Connection):
    raise TypeError("parallel-runs migrations run through parallel_runs.store.migrate, with a connection")
_run(connection)
