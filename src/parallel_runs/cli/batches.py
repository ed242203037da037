"""`parallel-runs batches`: one line per batch, with its runs counted by outcome and its times."""

from __future__ import annotations

import sys

# The settings are NamedTuples, frozen records for the price of `typing` (some 5 ms at --help):
# dataclasses would load inspect as well (some 20 ms of a start-up bench/startup.py holds to 3x).
from typing import TYPE_CHECKING, NamedTuple

from parallel_runs.cli.common import (
    PROG,
    add_location_options,
    deferred,
    env_help,
    exit_codes_help,
    make_console,
)
from parallel_runs.config.flags import BATCHES_FORMATS
from parallel_runs.errors import EXIT_OK, ConfigError

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path
    from typing import Any

    from rich.console import Console

    from parallel_runs.config.reading import RecordsLocation

__all__ = ["BatchesSettings", "build_batches_settings", "cmd_batches", "register"]

DESCRIPTION = (
    "List the batches recorded under the runs dir (or with --database-url, in the shared store), oldest "
    "first: one line each with its runs counted by the outcome of their latest attempt in it (queued and "
    "running too, in the shared store) and when it began and last ended (UTC). A batch refused before any "
    "run started (its test command could not judge at the base commit) is listed `refused`, with why."
)


def register(commands: Any) -> None:
    """Add the `batches` command to the subparsers."""
    batches = commands.add_parser(
        "batches",
        description=DESCRIPTION,
        epilog=exit_codes_help({0: "listed (also when there is none)"}),
    )
    batches.add_argument(
        "--format", choices=BATCHES_FORMATS, help=env_help("output format (default table)", "batches_format")
    )
    batches.add_argument(
        "--database-url",
        metavar="URL",
        help=env_help("read the shared PostgreSQL store instead of the runs dir", "database_url"),
    )
    add_location_options(batches)
    batches.set_defaults(
        handler=cmd_batches, build_settings=deferred("parallel_runs.cli.batches", "build_batches_settings")
    )


def cmd_batches(settings: BatchesSettings, console: Console) -> int:
    """Print one line per batch (or a JSON document)."""
    from parallel_runs.report.batches import format_summary
    from parallel_runs.store.opening import open_records

    with open_records(settings.where.place, store_file=settings.where.store_file) as records:
        summaries, where, hint = records.batches(), records.where, records.hint_when_empty
    if settings.format == "json":
        import json

        sys.stdout.write(json.dumps({"batches": [s.to_json() for s in summaries]}, indent=2) + "\n")
    else:
        width = max((len(summary.batch_id) for summary in summaries), default=0)
        for summary in summaries:
            console.print(format_summary(summary, width=width), markup=False)
        if not summaries:
            console.print(f"no batches found under {where}", markup=False)
    if not summaries and hint:
        make_console(stderr=True).print(f"{PROG}: {hint}", markup=False)
    return EXIT_OK


class BatchesSettings(NamedTuple):
    """Everything `parallel-runs batches` needs."""

    where: RecordsLocation  # the shared store, else this machine's runs dir
    format: str  # one of BATCHES_FORMATS


def build_batches_settings(
    *, flags: Mapping[str, object], environ: Mapping[str, str], cwd: Path
) -> BatchesSettings:
    """Validate the `batches` flags."""
    from parallel_runs.config.common import ENV, picker
    from parallel_runs.config.reading import records_location

    fmt = picker(flags, environ, skip_empty=True, env_keys={"format": "batches_format"})("format") or "table"
    if fmt not in BATCHES_FORMATS:  # argparse checks the flag: only the variable can be wrong
        raise ConfigError(f"{ENV['batches_format']}={fmt!r} is not one of: table, json")
    return BatchesSettings(where=records_location(flags, environ, cwd), format=fmt)
