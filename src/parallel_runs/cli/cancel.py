"""`parallel-runs cancel`: stop a batch of the shared PostgreSQL store on every machine working it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from parallel_runs.cli.common import env_help
from parallel_runs.config.cancel import CancelSettings, build_cancel_settings
from parallel_runs.errors import EXIT_OK, NotFoundError

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["cmd_cancel", "register"]

DESCRIPTION = (
    "Stop a shared batch everywhere: workers stop claiming, their running runs are cancelled within one "
    "heartbeat (--lease-ttl/3; their changes are saved, as with Ctrl-C), and queued runs are recorded "
    "not_started at once. Ctrl-C stops only the machine it is pressed on."
)
EXIT_CODES = "exit codes: 0 cancelled (or already was) · 2 no such batch, or bad usage"


def register(commands: Any) -> None:
    """Add the `cancel` command to the subparsers."""
    cancel = commands.add_parser(
        "cancel", help="stop a shared batch everywhere", description=DESCRIPTION, epilog=EXIT_CODES
    )
    cancel.add_argument(
        "--batch",
        "--batch-id",
        dest="batch_id",
        metavar="ID",
        help=env_help("the batch to cancel", "batch_id"),
    )
    cancel.add_argument(
        "--database-url",
        metavar="URL",
        help=env_help("postgresql:// URL of the shared store", "database_url"),
    )
    cancel.set_defaults(handler=cmd_cancel, build_settings=build_cancel_settings)


def cmd_cancel(settings: CancelSettings, console: Console) -> int:
    """Cancel the batch and say what that did."""
    from parallel_runs.store import SharedStore

    with SharedStore.connect(settings.database_url) as store:
        queued = store.cancel(settings.batch_id)
    if queued is None:
        raise NotFoundError(f"no such batch {settings.batch_id!r} in the shared store")
    console.print(
        f"batch {settings.batch_id} cancelled: {len(queued)} queued run(s) recorded not_started; "
        "running runs stop within one heartbeat, their changes saved",
        markup=False,
    )
    return EXIT_OK
