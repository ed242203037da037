"""Settings of `parallel-runs report`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from parallel_runs.config.common import (
    SEED_RUNS_DIR_ENV,
    absolute_path,
    picker,
    postgres_only,
    resolve_database_url,
    resolve_runs_dir,
    resolve_source_repo,
)
from parallel_runs.errors import ConfigError

__all__ = ["ReportSettings", "build_report_settings"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ReportSettings:
    """Everything `parallel-runs report` needs."""

    runs_dir: Path
    format: str
    batch_id: str | None
    output: Path | None = None  # write the report here instead of stdout
    runs_dir_is_default: bool = False  # a missing default runs dir just means "no runs yet"
    shared_database_url: str | None = None  # read the shared PostgreSQL store instead of the runs dir


def build_report_settings(
    *, flags: Mapping[str, object], environ: Mapping[str, str], cwd: Path
) -> ReportSettings:
    """Validate the `report` flags."""
    pick = picker(flags, environ, skip_empty=True)
    raw_runs = pick("runs_dir")
    is_default = not (raw_runs or environ.get(SEED_RUNS_DIR_ENV))
    if is_default:
        repo = resolve_source_repo(pick("source_repo"), environ, cwd)
        runs_dir = resolve_runs_dir(None, environ, cwd=cwd, repo=repo)
    else:
        runs_dir = resolve_runs_dir(raw_runs, environ, cwd=cwd, repo=cwd)
    fmt = pick("format") or "table"
    if fmt not in ("table", "json", "markdown", "html", "summary"):
        raise ConfigError(f"--format {fmt!r} is not one of: table, json, markdown, html, summary")
    output = pick("output")
    return ReportSettings(
        runs_dir=runs_dir,
        format=fmt,
        batch_id=pick("batch"),
        output=absolute_path(output, cwd) if output else None,
        runs_dir_is_default=is_default,
        shared_database_url=postgres_only(resolve_database_url(flags, environ)),
    )
