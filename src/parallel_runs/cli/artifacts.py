"""`parallel-runs artifacts list|get`: read a run's artifacts back from the shared store, on any machine."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from parallel_runs.cli.common import EXIT_CODES_HELP, Parser, env_help
from parallel_runs.config import (
    ArtifactsGetSettings,
    ArtifactsListSettings,
    build_artifacts_get_settings,
    build_artifacts_list_settings,
)
from parallel_runs.config.artifacts import ARTIFACTS_FORMATS
from parallel_runs.errors import EXIT_OK

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["cmd_artifacts_get", "cmd_artifacts_list", "register"]


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_id", metavar="RUN", help="the run id")
    parser.add_argument(
        "--batch",
        metavar="ID",
        help=env_help("the run's attempt in this batch (default: its latest)", "batch"),
    )
    parser.add_argument(
        "--attempt",
        metavar="N",  # a count, parsed with the others in config
        help=env_help("this attempt (default: the latest)", "artifact_attempt"),
    )
    parser.add_argument(
        "--database-url",
        metavar="URL",
        help=env_help("postgresql:// URL of the shared store (also DATABASE_URL)", "database_url"),
    )


def register(commands: Any) -> None:
    """Add `artifacts list` and `artifacts get` to the subparsers."""
    artifacts = commands.add_parser(
        "artifacts",
        help="read run artifacts (run.log, changes.patch, ...) from the shared store",
        epilog=EXIT_CODES_HELP,
    )
    actions = artifacts.add_subparsers(
        dest="artifacts_action", metavar="ACTION", parser_class=Parser, required=True
    )
    listing = actions.add_parser("list", help="the files an attempt stored", epilog=EXIT_CODES_HELP)
    _common(listing)
    listing.add_argument(
        "--format",
        choices=ARTIFACTS_FORMATS,
        help=env_help("output format (default table)", "artifacts_format"),
    )
    listing.set_defaults(handler=cmd_artifacts_list, build_settings=build_artifacts_list_settings)
    get = actions.add_parser("get", help="one stored file, byte for byte", epilog=EXIT_CODES_HELP)
    _common(get)
    get.add_argument("name", metavar="NAME", help="the file's path in the artifacts dir, e.g. run.log")
    get.add_argument(
        "--output", "-o", metavar="FILE", help=env_help("write it here instead of stdout", "artifact_output")
    )
    get.set_defaults(handler=cmd_artifacts_get, build_settings=build_artifacts_get_settings)


def cmd_artifacts_list(settings: ArtifactsListSettings, console: Console) -> int:
    """List an attempt's stored files with sizes (skipped ones were over the size cap)."""
    from parallel_runs.store import SharedStore

    with SharedStore.connect(settings.database_url) as store:
        files = store.list_artifacts(settings.run_id, batch_id=settings.batch_id, attempt=settings.attempt)
    if settings.format == "json":
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
        return EXIT_OK
    from rich.table import Table
    from rich.text import Text

    table = Table(title=f"artifacts of {settings.run_id}")
    for column in ("name", "size", "sha256", "attempt", "batch"):
        table.add_column(column)
    for f in files:
        sha = "skipped (over the size cap)" if f.skipped else (f.sha256 or "")[:16]
        table.add_row(Text(f.name), str(f.size), sha, str(f.attempt), Text(f.batch_id))
    console.print(table)
    return EXIT_OK


def cmd_artifacts_get(settings: ArtifactsGetSettings, console: Console) -> int:
    """Write one artifact to a file (streamed) or to stdout."""
    from parallel_runs.store import SharedStore

    run_id, name, batch_id, attempt = settings.run_id, settings.name, settings.batch_id, settings.attempt
    with SharedStore.connect(settings.database_url) as store:
        if settings.output:
            store.copy_artifact(run_id, name, destination=settings.output, batch_id=batch_id, attempt=attempt)
        else:
            data = store.read_artifact(run_id, name, batch_id=batch_id, attempt=attempt)
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
    return EXIT_OK
