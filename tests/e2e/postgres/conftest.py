"""The PostgreSQL fixtures of the integration tests, for the CLI tests too."""

from __future__ import annotations

from tests.integration.postgres.conftest import database_url, scratch_database

__all__ = ["database_url", "scratch_database"]
