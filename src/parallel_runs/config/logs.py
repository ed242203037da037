"""Settings of `parallel-runs logs`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from parallel_runs.config.common import flag_bool, picker
from parallel_runs.config.reading import RecordsLocation, parse_attempt, records_location

__all__ = ["LogsSettings", "build_logs_settings"]


@dataclass(frozen=True, slots=True, kw_only=True)
class LogsSettings:
    """Everything `parallel-runs logs` needs."""

    where: RecordsLocation  # the shared store, else this machine's runs dir
    run_id: str
    attempt: int | None  # None: the latest attempt (in `batch_id`, if given)
    batch_id: str | None
    follow: bool  # keep printing until the attempt ends
    poll_seconds: float = 0.2  # how often a followed log is looked at again


def build_logs_settings(
    *, flags: Mapping[str, object], environ: Mapping[str, str], cwd: Path
) -> LogsSettings:
    """Validate the `logs` flags."""
    return LogsSettings(
        where=records_location(flags, environ, cwd),
        run_id=str(flags["run_id"]),
        attempt=parse_attempt(flags, environ, env_key="logs_attempt"),
        batch_id=picker(flags, environ, skip_empty=True)("batch"),
        follow=flag_bool(flags, "follow", environ),
    )
