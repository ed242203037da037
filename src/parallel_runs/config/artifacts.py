"""Settings of `parallel-runs artifacts list` and `artifacts get`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from parallel_runs.config.common import ENV, absolute_path, picker
from parallel_runs.config.flags import ARTIFACTS_FORMATS
from parallel_runs.config.reading import RecordsLocation, parse_attempt, records_location
from parallel_runs.errors import ConfigError

__all__ = [
    "ARTIFACTS_FORMATS",
    "ArtifactsGetSettings",
    "ArtifactsListSettings",
    "build_artifacts_get_settings",
    "build_artifacts_list_settings",
]

# These flags share their dest with `report`'s, but not its variables.
_ENV_KEYS = {"format": "artifacts_format", "output": "artifact_output"}


@dataclass(frozen=True, slots=True, kw_only=True)
class ArtifactsListSettings:
    """Everything `parallel-runs artifacts list` needs."""

    where: RecordsLocation  # the shared store, else this machine's runs dir
    run_id: str
    batch_id: str | None  # None: the run's latest attempt in any batch
    attempt: int | None  # None: the latest attempt
    format: str  # one of ARTIFACTS_FORMATS


@dataclass(frozen=True, slots=True, kw_only=True)
class ArtifactsGetSettings:
    """Everything `parallel-runs artifacts get` needs."""

    where: RecordsLocation  # the shared store, else this machine's runs dir
    run_id: str
    name: str  # the file's path in the artifacts dir
    batch_id: str | None  # None: the run's latest attempt in any batch
    attempt: int | None  # None: the latest attempt
    output: Path | None  # absolute; None: stdout


def build_artifacts_list_settings(
    *, flags: Mapping[str, object], environ: Mapping[str, str], cwd: Path
) -> ArtifactsListSettings:
    """Validate the `artifacts list` flags."""
    pick = picker(flags, environ, skip_empty=True, env_keys=_ENV_KEYS)
    batch_id, attempt = pick("batch"), parse_attempt(flags, environ, env_key="artifact_attempt")
    fmt = pick("format") or "table"
    if fmt not in ARTIFACTS_FORMATS:  # argparse checks the flag: only the variable can be wrong
        raise ConfigError(f"{ENV['artifacts_format']}={fmt!r} is not one of: table, json")
    return ArtifactsListSettings(
        where=records_location(flags, environ, cwd),
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
    batch_id, output = pick("batch"), pick("output")
    return ArtifactsGetSettings(
        where=records_location(flags, environ, cwd),
        run_id=str(flags["run_id"]),
        name=str(flags["name"]),
        batch_id=batch_id,
        attempt=parse_attempt(flags, environ, env_key="artifact_attempt"),
        output=absolute_path(output, cwd) if output else None,
    )
