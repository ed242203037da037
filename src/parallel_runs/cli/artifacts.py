"""`parallel-runs artifacts list|get`: read a run's artifacts back, from this machine's runs dir or from
the shared store (on any machine)."""

from __future__ import annotations

import sys

# The settings are NamedTuples, frozen records for the price of `typing` (some 5 ms at --help):
# dataclasses would load inspect as well (some 20 ms of a start-up bench/startup.py holds to 3x).
from typing import TYPE_CHECKING, NamedTuple

from parallel_runs.cli.common import (
    Parser,
    add_batch_option,
    add_location_options,
    deferred,
    env_help,
    exit_codes_help,
)
from parallel_runs.config.flags import ARTIFACTS_FORMATS
from parallel_runs.errors import EXIT_OK, ConfigError

if TYPE_CHECKING:
    import argparse
    from collections.abc import Mapping
    from pathlib import Path
    from typing import Any

    from rich.console import Console

    from parallel_runs.config.reading import RecordsLocation
    from parallel_runs.store import ArtifactInfo

__all__ = [
    "ArtifactsGetSettings",
    "ArtifactsListSettings",
    "build_artifacts_get_settings",
    "build_artifacts_list_settings",
    "cmd_artifacts_get",
    "cmd_artifacts_list",
    "register",
]

EXIT_CODES = exit_codes_help({0: "done", 2: "usage error, or no such run, attempt or artifact"})
DESCRIPTION = (
    "Read what a run left in its artifacts dir (run.log, result.json, changes.patch, ci/*): from this "
    "machine's runs dir (the files of the run's latest attempt), or with --database-url from the shared "
    "store, where every attempt's files are kept."
)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_id", metavar="RUN", help="the run id")
    add_batch_option(parser, "the run's attempt in this batch (default: its latest)")
    parser.add_argument(
        "--attempt",
        metavar="N",  # a count, parsed with the others in config
        help=env_help("this attempt (default: the latest)", "artifact_attempt"),
    )
    parser.add_argument(
        "--database-url",
        metavar="URL",
        help=env_help("read the shared PostgreSQL store instead of the runs dir", "database_url"),
    )
    add_location_options(parser)


def register(commands: Any) -> None:
    """Add `artifacts list` and `artifacts get` to the subparsers."""
    artifacts = commands.add_parser(
        "artifacts",
        description=DESCRIPTION,
        epilog=EXIT_CODES,
    )
    actions = artifacts.add_subparsers(
        dest="artifacts_action", metavar="ACTION", parser_class=Parser, required=True
    )
    listing = actions.add_parser(
        "list", help="the files an attempt left", description=DESCRIPTION, epilog=EXIT_CODES
    )
    _common(listing)
    listing.add_argument(
        "--format",
        choices=ARTIFACTS_FORMATS,
        help=env_help("output format (default table)", "artifacts_format"),
    )
    listing.set_defaults(
        handler=cmd_artifacts_list,
        build_settings=deferred("parallel_runs.cli.artifacts", "build_artifacts_list_settings"),
    )
    get = actions.add_parser(
        "get", help="one file, byte for byte", description=DESCRIPTION, epilog=EXIT_CODES
    )
    _common(get)
    get.add_argument("name", metavar="NAME", help="the file's path in the artifacts dir, e.g. run.log")
    get.add_argument(
        "--output", "-o", metavar="FILE", help=env_help("write it here instead of stdout", "artifact_output")
    )
    get.set_defaults(
        handler=cmd_artifacts_get,
        build_settings=deferred("parallel_runs.cli.artifacts", "build_artifacts_get_settings"),
    )


def _print_listing(settings: ArtifactsListSettings, files: list[ArtifactInfo], console: Console) -> None:
    if settings.format == "json":
        import json

        rows = [
            {
                "name": f.name,
                "size": f.size,
                "sha256": f.sha256,
                "skipped": f.skipped,
                "attempt": f.attempt,
                "batch_id": f.batch_id,
            }
            for f in files
        ]
        sys.stdout.write(json.dumps({"run_id": settings.run_id, "artifacts": rows}, indent=2) + "\n")
        return
    from rich.table import Table
    from rich.text import Text

    table = Table(title=f"artifacts of {settings.run_id}")
    for column in ("name", "size", "sha256", "attempt", "batch"):
        table.add_column(column)
    for f in files:
        sha = "skipped (over the size cap)" if f.skipped else (f.sha256 or "")[:16]
        table.add_row(Text(f.name), str(f.size), sha, str(f.attempt), Text(f.batch_id))
    from parallel_runs.cli.console import print_table

    print_table(console, table)


def cmd_artifacts_list(settings: ArtifactsListSettings, console: Console) -> int:
    """List an attempt's files with sizes (skipped ones were over the shared store's size cap)."""
    from parallel_runs.store.opening import open_records

    with open_records(settings.where.place, store_file=settings.where.store_file) as records:
        files = records.artifacts(settings.run_id, batch_id=settings.batch_id, attempt=settings.attempt)
    _print_listing(settings, files, console)
    return EXIT_OK


def cmd_artifacts_get(settings: ArtifactsGetSettings, console: Console) -> int:
    """Write one artifact to a file (written beside it, then renamed into place) or to stdout."""
    from parallel_runs.store.artifacts import find_artifact
    from parallel_runs.store.opening import open_records

    with open_records(settings.where.place, store_file=settings.where.store_file) as records:
        files = records.artifacts(settings.run_id, batch_id=settings.batch_id, attempt=settings.attempt)
        info = find_artifact(files, run_id=settings.run_id, name=settings.name)
        if settings.output:
            records.copy_artifact(info, settings.output)
        else:
            import shutil

            with records.open_artifact(info) as source:
                shutil.copyfileobj(source, sys.stdout.buffer)
            sys.stdout.buffer.flush()
    return EXIT_OK


# These flags share their dest with `report`'s, but not its variables.
_ENV_KEYS = {"format": "artifacts_format", "output": "artifact_output"}


class ArtifactsListSettings(NamedTuple):
    """Everything `parallel-runs artifacts list` needs."""

    where: RecordsLocation  # the shared store, else this machine's runs dir
    run_id: str
    batch_id: str | None  # None: the run's latest attempt in any batch
    attempt: int | None  # None: the latest attempt
    format: str  # one of ARTIFACTS_FORMATS


class ArtifactsGetSettings(NamedTuple):
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
    from parallel_runs.config.common import ENV, picker
    from parallel_runs.config.reading import parse_attempt, records_location

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
    from parallel_runs.config.common import absolute_path, picker
    from parallel_runs.config.reading import parse_attempt, records_location

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
