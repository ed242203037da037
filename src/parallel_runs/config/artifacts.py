"""Settings of `parallel-runs artifacts list` and `artifacts get`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from parallel_runs.config.common import (
    ENV,
    absolute_path,
    env_value,
    parse_count,
    picker,
    postgres_only,
    resolve_database_url,
)
from parallel_runs.errors import ConfigError

__all__ = [
    "ARTIFACTS_FORMATS",
    "ArtifactsGetSettings",
    "ArtifactsListSettings",
    "build_artifacts_get_settings",
    "build_artifacts_list_settings",
]

ARTIFACTS_FORMATS = ("table", "json")
# These flags share their dest with `report`'s, but not its variables.
_ENV_KEYS = {"format": "artifacts_format", "output": "artifact_output"}


@dataclass(frozen=True, slots=True, kw_only=True)
class ArtifactsListSettings:
    """Everything `parallel-runs artifacts list` needs."""

    database_url: str  # the shared PostgreSQL store
    run_id: str
    batch_id: str | None  # None: the run's latest attempt in any batch
    attempt: int | None  # None: the latest attempt
    format: str  # one of ARTIFACTS_FORMATS


@dataclass(frozen=True, slots=True, kw_only=True)
class ArtifactsGetSettings:
    """Everything `parallel-runs artifacts get` needs."""

    database_url: str  # the shared PostgreSQL store
    run_id: str
    name: str  # the file's path in the artifacts dir
    batch_id: str | None  # None: the run's latest attempt in any batch
    attempt: int | None  # None: the latest attempt
    output: Path | None  # absolute; None: stdout


def _attempt(flags: Mapping[str, object], environ: Mapping[str, str]) -> int | None:
    """--attempt, else its variable, as a count; the error names where the bad value came from."""
    flag = flags.get("attempt")
    text: str | None
    if flag is not None:
        name, text = "--attempt", str(flag)
    else:
        name, text = ENV["artifact_attempt"], env_value(environ, "artifact_attempt")
    if text is None:
        return None
    try:
        return parse_count(text, flag=name)
    except ConfigError:
        raise ConfigError(f"{name}={text!r} is not an attempt number") from None


def _shared_store_url(flags: Mapping[str, object], environ: Mapping[str, str]) -> str:
    url = postgres_only(resolve_database_url(flags, environ))
    if url is None:
        raise ConfigError("artifacts live in the shared store: give --database-url postgresql://...")
    return url


def build_artifacts_list_settings(
    *, flags: Mapping[str, object], environ: Mapping[str, str], cwd: Path
) -> ArtifactsListSettings:
    """Validate the `artifacts list` flags (`cwd` is unused: nothing here is a path)."""
    pick = picker(flags, environ, skip_empty=True, env_keys=_ENV_KEYS)
    batch_id, attempt = pick("batch"), _attempt(flags, environ)
    fmt = pick("format") or "table"
    if fmt not in ARTIFACTS_FORMATS:  # argparse checks the flag: only the variable can be wrong
        raise ConfigError(f"{ENV['artifacts_format']}={fmt!r} is not one of: table, json")
    return ArtifactsListSettings(
        database_url=_shared_store_url(flags, environ),
        run_id=str(flags["run_id"]),
        batch_id=batch_id,
        attempt=attempt,
        format=fmt,
    )


def build_artifacts_get_settings(
    *, flags: Mapping[str, object], environ: Mapping[str, str], cwd: Path
) -> ArtifactsGetSettings:
    """Validate the `artifacts get` flags."""
    pick = picker(flags, environ, skip_empty=True, env_keys=_ENV_KEYS)
    batch_id, attempt, output = pick("batch"), _attempt(flags, environ), pick("output")
    return ArtifactsGetSettings(
        database_url=_shared_store_url(flags, environ),
        run_id=str(flags["run_id"]),
        name=str(flags["name"]),
        batch_id=batch_id,
        attempt=attempt,
        output=absolute_path(output, cwd) if output else None,
    )
