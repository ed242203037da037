"""`parallel-runs cancel`: stop a batch of the shared PostgreSQL store on every machine working it."""

from __future__ import annotations

import time

from parallel_runs.cli.command_settings import CommandSettings
from parallel_runs.cli.common import deferred, env_help, exit_codes_help
from parallel_runs.config.flags import DEFAULT_CANCEL_TIMEOUT_SECONDS
from parallel_runs.core.defaults import DEFAULT_GRACE_SECONDS
from parallel_runs.core.defaults import DEFAULT_LEASE_TTL as DEFAULT_LEASE_TTL_SECONDS
from parallel_runs.errors import EXIT_FAILED, EXIT_OK, ConfigError, NotFoundError

# typing.TYPE_CHECKING without importing typing: --help loads no more than it prints.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path
    from typing import Any

    from rich.console import Console

    from parallel_runs.store import SharedStore

__all__ = ["CancelSettings", "build_cancel_settings", "cmd_cancel", "register"]

_TTL, _GRACE = f"{DEFAULT_LEASE_TTL_SECONDS:g}s", f"{DEFAULT_GRACE_SECONDS:g}s"
# What stopping takes: each worker notices at its next heartbeat, then SIGTERM, SIGKILL after the grace.
STOP_WITHIN = (
    f"running runs stop within TTL/3 of their worker's --lease-ttl "
    f"({DEFAULT_LEASE_TTL_SECONDS / 3:g}s at the default {_TTL}) plus its --grace ({_GRACE}), "
    "their changes saved"
)
DESCRIPTION = (
    "Stop a shared batch everywhere: workers stop claiming, queued runs are recorded not_started at once, "
    f"and {STOP_WITHIN}, as with Ctrl-C. --wait waits until no run of the batch is running. Ctrl-C stops "
    "only the machine it is pressed on."
)
EXIT_CODES = exit_codes_help(
    {
        0: "cancelled (or already was); with --wait, no run of the batch is running any more",
        1: "--wait: runs still running when --timeout passed",
        2: "no such batch, or bad usage",
        130: "interrupted while waiting",
    }
)
WAIT_POLL_SECONDS = 1.0


def register(commands: Any) -> None:
    """Add the `cancel` command to the subparsers."""
    cancel = commands.add_parser("cancel", description=DESCRIPTION, epilog=EXIT_CODES)
    flag = cancel.add_argument
    flag(
        "--batch",
        "--batch-id",
        dest="batch_id",
        metavar="ID",
        help=env_help("the batch to cancel", "batch_id"),
    )
    flag(
        "--database-url",
        metavar="URL",
        help=env_help("postgresql:// URL of the shared store", "database_url"),
    )
    flag(
        "--wait",
        dest="cancel_wait",
        action="store_true",
        default=None,
        help=env_help(
            "then wait until no run of the batch is running (each stopped and saved)", "cancel_wait"
        ),
    )
    flag(
        "--timeout",
        dest="cancel_timeout",
        metavar="DUR",
        help=env_help(
            f"how long --wait waits (default {DEFAULT_CANCEL_TIMEOUT_SECONDS:g}s)",
            "cancel_timeout",
        ),
    )
    cancel.set_defaults(
        handler=cmd_cancel, build_settings=deferred("parallel_runs.cli.cancel", "build_cancel_settings")
    )


def cmd_cancel(settings: CancelSettings, console: Console) -> int:
    """Cancel the batch and say what that did; with --wait, until its running runs have stopped."""
    from parallel_runs.core.durations import format_duration
    from parallel_runs.store import SharedStore

    with SharedStore.connect(settings.database_url) as store:
        queued = store.cancel(settings.batch_id)
        if queued is None:
            raise NotFoundError(f"no such batch {settings.batch_id!r} in the shared store")
        said = f"batch {settings.batch_id} cancelled: {len(queued)} queued run(s) recorded not_started; "
        if not settings.wait:
            console.print(f"{said}{STOP_WITHIN} (--wait waits for them)", markup=False)
            return EXIT_OK
        console.print(
            f"{said}waiting up to {format_duration(settings.timeout)} for running runs to stop", markup=False
        )
        return _wait(store, settings, console)


def _running(store: SharedStore, batch_id: str) -> list[str]:
    """The batch's runs whose lease is alive: a lapsed one's worker is gone, and its command with it."""
    from parallel_runs.store.leases import CLAIMED

    now = store.now()
    return [
        run.run_id
        for run in store.batch_runs(batch_id)
        if run.state == CLAIMED and run.expires_at is not None and run.expires_at > now
    ]


def _wait(store: SharedStore, settings: CancelSettings, console: Console) -> int:
    """Poll the batch until none of its runs is running, or --timeout passes."""
    from parallel_runs.core.durations import format_duration

    deadline = time.monotonic() + settings.timeout
    while running := _running(store, settings.batch_id):
        if time.monotonic() >= deadline:
            shown = ", ".join(running[:10]) + (f" and {len(running) - 10} more" if len(running) > 10 else "")
            waited = format_duration(settings.timeout)
            console.print(
                f"after {waited}, {len(running)} run(s) of batch {settings.batch_id} still running: {shown}",
                markup=False,
            )
            return EXIT_FAILED
        time.sleep(WAIT_POLL_SECONDS)
    console.print(f"no run of batch {settings.batch_id} is running any more", markup=False)
    return EXIT_OK


class CancelSettings(CommandSettings):
    """The shared batch to stop everywhere, and whether to wait until none of its runs is running."""

    batch_id: str
    database_url: str
    wait: bool = False
    timeout: float = DEFAULT_CANCEL_TIMEOUT_SECONDS  # how long --wait waits


def build_cancel_settings(
    *, flags: Mapping[str, object], environ: Mapping[str, str], cwd: Path
) -> CancelSettings:
    """Validate the `cancel` flags: a batch and the shared store holding it (`cwd` is unused)."""
    from parallel_runs.config.common import flag_bool, picker, shared_batch
    from parallel_runs.core.durations import parse_duration

    pick = picker(flags, environ)
    batch_id, url = shared_batch(
        flags,
        environ,
        command="cancel",
        batch_hint="",
        url_hint=" (a batch on per-run SQLite belongs to the one `run` working it: stop that with Ctrl-C)",
    )
    wait = flag_bool(flags, "cancel_wait", environ)
    timeout = pick("cancel_timeout")
    if flags.get("cancel_timeout") is not None and not wait:
        raise ConfigError("--timeout is how long cancel --wait waits: add --wait")
    return CancelSettings(
        batch_id=batch_id,
        database_url=url,
        wait=wait,
        timeout=DEFAULT_CANCEL_TIMEOUT_SECONDS
        if timeout is None
        else parse_duration(timeout, name="--timeout"),
    )
