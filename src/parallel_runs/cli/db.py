"""`parallel-runs db upgrade`: bring the shared PostgreSQL database's schema up to date."""

from __future__ import annotations

from parallel_runs.cli.command_settings import CommandSettings
from parallel_runs.cli.common import Parser, deferred, env_help, exit_codes_help
from parallel_runs.errors import EXIT_OK, ConfigError

# typing.TYPE_CHECKING without importing typing: --help loads no more than it prints.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path
    from typing import Any

    from rich.console import Console

__all__ = ["DbUpgradeSettings", "build_db_upgrade_settings", "cmd_db_upgrade", "register"]


DESCRIPTION = (
    "Create the shared PostgreSQL store's tables, or bring them up to this version's schema (Alembic "
    "migrations, each applied once). `plan` and `run` do this themselves before they queue a batch; "
    "this migrates without queueing one. Running it again changes nothing; a newer schema is refused."
)
EXIT_CODES = exit_codes_help({0: "the schema is up to date", 2: "no or a bad --database-url"})


def register(commands: Any) -> None:
    """Add the `db` command (and its `upgrade` action) to the subparsers."""
    db = commands.add_parser("db", description=DESCRIPTION, epilog=EXIT_CODES)
    actions = db.add_subparsers(dest="db_action", metavar="ACTION", parser_class=Parser, required=True)
    up = actions.add_parser(
        "upgrade",
        help="apply the schema migrations (Alembic) to the database",
        description=DESCRIPTION,
        epilog=EXIT_CODES,
    )
    up.add_argument(
        "--database-url",
        metavar="URL",
        help=env_help("postgresql:// URL of the shared store", "database_url"),
    )
    up.set_defaults(
        handler=cmd_db_upgrade,
        build_settings=deferred("parallel_runs.cli.db", "build_db_upgrade_settings"),
    )


def cmd_db_upgrade(settings: DbUpgradeSettings, console: Console) -> int:
    """Apply every pending migration and say which revision the database is at."""
    from parallel_runs.core.urls import mask_url
    from parallel_runs.store import upgrade

    revision = upgrade(settings.database_url)
    console.print(
        f"database {mask_url(settings.database_url)} is at schema revision {revision}", markup=False
    )
    return EXIT_OK


class DbUpgradeSettings(CommandSettings):
    """Everything `parallel-runs db upgrade` needs."""

    database_url: str


def build_db_upgrade_settings(
    *, flags: Mapping[str, object], environ: Mapping[str, str], cwd: Path
) -> DbUpgradeSettings:
    """Validate the `db upgrade` flags (`cwd` is unused: nothing here is a path)."""
    from parallel_runs.config.common import resolve_database_url

    url = resolve_database_url(flags, environ)
    if url is None:
        raise ConfigError("db upgrade: give --database-url URL (or set PARALLEL_RUNS_DATABASE_URL)")
    return DbUpgradeSettings(database_url=url)
