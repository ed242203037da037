"""`parallel-runs artifacts list|get`: read a run's artifacts back from the shared store, on any machine."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from parallel_runs.cli.common import EXIT_CODES_HELP, Parser, env_help
from parallel_runs.config import ENV, absolute_path, is_postgres_url, resolve_database_url
from parallel_runs.errors import EXIT_OK, ConfigError

if TYPE_CHECKING:
    from rich.console import Console

    from parallel_runs.store import SharedStore

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
        type=int,
        metavar="N",
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
        choices=("table", "json"),
        help=env_help("output format (default table)", "artifacts_format"),
    )
    listing.set_defaults(handler=cmd_artifacts_list)
    get = actions.add_parser("get", help="one stored file, byte for byte", epilog=EXIT_CODES_HELP)
    _common(get)
    get.add_argument("name", metavar="NAME", help="the file's path in the artifacts dir, e.g. run.log")
    get.add_argument(
        "--output", "-o", metavar="FILE", help=env_help("write it here instead of stdout", "artifact_output")
    )
    get.set_defaults(handler=cmd_artifacts_get)


def _from_env(args: argparse.Namespace) -> None:
    """Options not given on the command line come from their environment variables."""
    env = os.environ
    args.batch = args.batch or env.get(ENV["batch"]) or None
    if args.attempt is None and (attempt := env.get(ENV["artifact_attempt"])):
        if not attempt.isdigit():
            raise ConfigError(f"{ENV['artifact_attempt']}={attempt!r} is not an attempt number")
        args.attempt = int(attempt)
    if hasattr(args, "format"):
        args.format = args.format or env.get(ENV["artifacts_format"]) or "table"
        if args.format not in ("table", "json"):
            raise ConfigError(f"{ENV['artifacts_format']}={args.format!r} is not one of: table, json")
    if hasattr(args, "output"):
        args.output = args.output or env.get(ENV["artifact_output"]) or None


def _store(args: argparse.Namespace) -> SharedStore:
    _from_env(args)
    url = resolve_database_url(vars(args), os.environ)
    if not url or not is_postgres_url(url):
        raise ConfigError("artifacts live in the shared store: give --database-url postgresql://...")
    from parallel_runs.store import SharedStore

    return SharedStore.connect(url)


def cmd_artifacts_list(args: argparse.Namespace, console: Console) -> int:
    """List an attempt's stored files with sizes (skipped ones were over the size cap)."""
    with _store(args) as store:
        files = store.list_artifacts(args.run_id, batch_id=args.batch, attempt=args.attempt)
    if args.format == "json":
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
        sys.stdout.write(json.dumps({"run_id": args.run_id, "artifacts": rows}, indent=2) + "\n")
        return EXIT_OK
    from rich.table import Table
    from rich.text import Text

    table = Table(title=f"artifacts of {args.run_id}")
    for column in ("name", "size", "sha256", "attempt", "batch"):
        table.add_column(column)
    for f in files:
        sha = "skipped (over the size cap)" if f.skipped else (f.sha256 or "")[:16]
        table.add_row(Text(f.name), str(f.size), sha, str(f.attempt), Text(f.batch_id))
    console.print(table)
    return EXIT_OK


def cmd_artifacts_get(args: argparse.Namespace, console: Console) -> int:
    """Write one artifact to a file (streamed) or to stdout."""
    with _store(args) as store:
        if args.output:
            destination = absolute_path(args.output, Path.cwd())
            store.copy_artifact(
                args.run_id, args.name, destination=destination, batch_id=args.batch, attempt=args.attempt
            )
        else:
            data = store.read_artifact(args.run_id, args.name, batch_id=args.batch, attempt=args.attempt)
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
    return EXIT_OK
