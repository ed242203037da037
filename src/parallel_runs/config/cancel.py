"""Settings of `parallel-runs cancel`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from parallel_runs.config.common import is_postgres_url, picker, resolve_database_url
from parallel_runs.core.ids import validate_batch_id
from parallel_runs.errors import ConfigError

__all__ = ["CancelSettings", "build_cancel_settings"]


@dataclass(frozen=True, slots=True, kw_only=True)
class CancelSettings:
    """The shared batch to stop everywhere."""

    batch_id: str
    database_url: str


def build_cancel_settings(
    *, flags: Mapping[str, object], environ: Mapping[str, str], cwd: Path
) -> CancelSettings:
    """Validate the `cancel` flags: a batch and the shared store holding it (`cwd` is unused)."""
    batch_id = picker(flags, environ)("batch_id")
    url = resolve_database_url(flags, environ)
    if not batch_id:
        raise ConfigError("cancel needs --batch ID")
    validate_batch_id(batch_id)
    if not url or not is_postgres_url(url):
        raise ConfigError(
            "cancel needs --database-url postgresql://... (a batch on per-run SQLite belongs to the one "
            "`run` working it: stop that with Ctrl-C)"
        )
    return CancelSettings(batch_id=batch_id, database_url=url)
