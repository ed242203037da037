"""Settings of `parallel-runs db upgrade`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from parallel_runs.config.common import resolve_database_url
from parallel_runs.errors import ConfigError

__all__ = ["DbUpgradeSettings", "build_db_upgrade_settings"]


@dataclass(frozen=True, slots=True, kw_only=True)
class DbUpgradeSettings:
    """Everything `parallel-runs db upgrade` needs."""

    database_url: str


def build_db_upgrade_settings(
    *, flags: Mapping[str, object], environ: Mapping[str, str], cwd: Path
) -> DbUpgradeSettings:
    """Validate the `db upgrade` flags (`cwd` is unused: nothing here is a path)."""
    url = resolve_database_url(flags, environ)
    if url is None:
        raise ConfigError("db upgrade: give --database-url URL (or set PARALLEL_RUNS_DATABASE_URL)")
    return DbUpgradeSettings(database_url=url)
