"""Alembic migrations of the shared PostgreSQL store (applied by `plan`, `run` and `db upgrade`)."""
