"""Settings of `parallel-runs cancel`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from parallel_runs.config.common import flag_bool, is_postgres_url, picker, resolve_database_url
from parallel_runs.config.flags import DEFAULT_CANCEL_TIMEOUT_SECONDS
from parallel_runs.core.durations import parse_duration
from parallel_runs.core.ids import validate_batch_id
from parallel_runs.errors import ConfigError

__all__ = ["DEFAULT_CANCEL_TIMEOUT_SECONDS", "CancelSettings", "build_cancel_settings"]


@dataclass(frozen=True, slots=True, kw_only=True)
class CancelSettings:
    """The shared batch to stop everywhere, and whether to wait until none of its runs is running."""

    batch_id: str
    database_url: str
    wait: bool = False
    timeout: float = DEFAULT_CANCEL_TIMEOUT_SECONDS  # how long --wait waits


def build_cancel_settings(
    *, flags: Mapping[str, object], environ: Mapping[str, str], cwd: Path
) -> CancelSettings:
    """Validate the `cancel` flags: a batch and the shared store holding it (`cwd` is unused)."""
    pick = picker(flags, environ)
    batch_id = pick("batch_id")
    url = resolve_database_url(flags, environ)
    if not batch_id:
        raise ConfigError("cancel needs --batch ID")
    validate_batch_id(batch_id)
    if not url or not is_postgres_url(url):
        raise ConfigError(
            "cancel needs --database-url postgresql://... (a batch on per-run SQLite belongs to the one "
            "`run` working it: stop that with Ctrl-C)"
        )
    wait = flag_bool(flags, "cancel_wait", environ)
    timeout = pick("cancel_timeout")
    if flags.get("cancel_timeout") is not None and not wait:
        raise ConfigError("--timeout is how long cancel --wait waits: add --wait")
    return CancelSettings(
        batch_id=batch_id,
        database_url=url,
        wait=wait,
        timeout=DEFAULT_CANCEL_TIMEOUT_SECONDS
        if timeout is None
        else parse_duration(timeout, name="--timeout"),
    )
