"""`parallel-runs db upgrade`: bring the shared PostgreSQL database's schema up to date."""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING, Any

from parallel_runs.cli.common import EXIT_CODES_HELP, Parser, env_help
from parallel_runs.config import resolve_database_url
from parallel_runs.core.urls import mask_url
from parallel_runs.errors import EXIT_OK, ConfigError

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["cmd_db_upgrade", "register"]


def register(commands: Any) -> None:
    """Add the `db` command (and its `upgrade` action) to the subparsers."""
    db = commands.add_parser("db", help="manage the shared PostgreSQL database", epilog=EXIT_CODES_HELP)
    actions = db.add_subparsers(dest="db_action", metavar="ACTION", parser_class=Parser, required=True)
    up = actions.add_parser(
        "upgrade", help="apply the schema migrations (Alembic) to the database", epilog=EXIT_CODES_HELP
    )
    up.add_argument(
        "--database-url",
        metavar="URL",
        help=env_help("postgresql:// URL of the shared store (also DATABASE_URL)", "database_url"),
    )
    up.set_defaults(handler=cmd_db_upgrade)


def cmd_db_upgrade(args: argparse.Namespace, console: Console) -> int:
    """Apply every pending migration and say which revision the database is at."""
    url = resolve_database_url(vars(args), os.environ)
    if url is None:
        raise ConfigError("db upgrade: give --database-url URL (or set PARALLEL_RUNS_DATABASE_URL)")
    from parallel_runs.store import upgrade

    revision = upgrade(url)
    console.print(f"database {mask_url(url)} is at schema revision {revision}", markup=False)
    return EXIT_OK
