"""Settings of `parallel-runs batches`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from parallel_runs.config.common import ENV, picker
from parallel_runs.config.flags import BATCHES_FORMATS
from parallel_runs.config.reading import RecordsLocation, records_location
from parallel_runs.errors import ConfigError

__all__ = ["BATCHES_FORMATS", "BatchesSettings", "build_batches_settings"]


@dataclass(frozen=True, slots=True, kw_only=True)
class BatchesSettings:
    """Everything `parallel-runs batches` needs."""

    where: RecordsLocation  # the shared store, else this machine's runs dir
    format: str  # one of BATCHES_FORMATS


def build_batches_settings(
    *, flags: Mapping[str, object], environ: Mapping[str, str], cwd: Path
) -> BatchesSettings:
    """Validate the `batches` flags."""
    fmt = picker(flags, environ, skip_empty=True, env_keys={"format": "batches_format"})("format") or "table"
    if fmt not in BATCHES_FORMATS:  # argparse checks the flag: only the variable can be wrong
        raise ConfigError(f"{ENV['batches_format']}={fmt!r} is not one of: table, json")
    return BatchesSettings(where=records_location(flags, environ, cwd), format=fmt)
