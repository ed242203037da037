"""Alembic migrations of the shared PostgreSQL store (applied by `parallel-runs db upgrade`)."""
