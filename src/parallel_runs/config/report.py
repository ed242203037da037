"""Settings of `parallel-runs report`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from parallel_runs.config.common import absolute_path, picker
from parallel_runs.config.reading import RecordsLocation, records_location
from parallel_runs.config.secrets import known_secrets
from parallel_runs.errors import ConfigError

__all__ = ["ReportSettings", "build_report_settings"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ReportSettings:
    """Everything `parallel-runs report` needs."""

    where: RecordsLocation  # the shared store, else this machine's runs dir
    format: str
    batch_id: str | None
    output: Path | None = None  # write the report here instead of stdout
    secrets: frozenset[str] = field(default=frozenset(), repr=False)  # redacted from the report


def build_report_settings(
    *, flags: Mapping[str, object], environ: Mapping[str, str], cwd: Path
) -> ReportSettings:
    """Validate the `report` flags (with --database-url no repository is needed)."""
    pick = picker(flags, environ, skip_empty=True)
    fmt = pick("format") or "table"
    if fmt not in ("table", "json", "markdown", "html", "summary"):
        raise ConfigError(f"--format {fmt!r} is not one of: table, json, markdown, html, summary")
    output = pick("output")
    return ReportSettings(
        where=records_location(flags, environ, cwd),
        format=fmt,
        batch_id=pick("batch"),
        output=absolute_path(output, cwd) if output else None,
        secrets=known_secrets(environ, urls=[str(flags.get("database_url") or "")]),
    )
