"""`parallel-runs dashboard`: serve the live web UI (`dashboard/`) until Ctrl-C."""

from __future__ import annotations

from parallel_runs.cli.command_settings import CommandSettings
from parallel_runs.cli.common import PROG, add_location_options, deferred, env_help, exit_codes_help
from parallel_runs.config.flags import DEFAULT_DASHBOARD_HOST, DEFAULT_DASHBOARD_PORT
from parallel_runs.errors import EXIT_OK, ConfigError

# typing.TYPE_CHECKING without importing typing: --help loads no more than it prints.
TYPE_CHECKING = False
if TYPE_CHECKING:
    import socket
    from collections.abc import Mapping
    from pathlib import Path
    from typing import Any

    from rich.console import Console

    from parallel_runs.config.reading import RecordsLocation

__all__ = ["DashboardSettings", "build_dashboard_settings", "cmd_dashboard", "register"]

DESCRIPTION = (
    "Serve a live web UI of the batches recorded under the runs dir (or with --database-url, in the "
    "shared store, every machine's): batches, each batch's runs (filtered and sorted in the URL, a "
    "timeline by host), each run's attempts, logs, tests, change and artifacts, updated within 2 s, "
    "and a JSON API under /api. It binds to loopback; another --host needs --token, which every request "
    "must then carry. Read-only unless --allow-cancel. Ctrl-C stops it."
)
MIN_TOKEN_LENGTH = 16
LOOPBACK_NAMES = ("localhost",)


def register(commands: Any) -> None:
    """Add the `dashboard` command to the subparsers."""
    dashboard = commands.add_parser(
        "dashboard",
        description=DESCRIPTION,
        epilog=exit_codes_help({0: "stopped with Ctrl-C", 2: "bad usage, or the port cannot be listened on"}),
    )
    flag = dashboard.add_argument
    flag(
        "--database-url",
        metavar="URL",
        help=env_help("read the shared PostgreSQL store instead of the runs dir", "database_url"),
    )
    flag(
        "--host",
        help=env_help(f"address to listen on (default {DEFAULT_DASHBOARD_HOST})", "dashboard_host"),
    )
    flag(
        "--port",
        help=env_help(f"port (default {DEFAULT_DASHBOARD_PORT}; 0: any free one)", "dashboard_port"),
    )
    mode = dashboard.add_mutually_exclusive_group()
    mode.add_argument(
        "--read-only",
        dest="allow_cancel",
        action="store_false",
        default=None,
        help=env_help("only show (the default)", "allow_cancel"),
    )
    mode.add_argument(
        "--allow-cancel",
        dest="allow_cancel",
        action="store_true",
        default=None,
        help=env_help(
            "a batch's page gets a button that does what `cancel --batch` does (shared store only)",
            "allow_cancel",
        ),
    )
    flag(
        "--token",
        help=env_help(
            f"every request must carry it (at least {MIN_TOKEN_LENGTH} characters; required off loopback; "
            "the variable keeps it out of the process list)",
            "dashboard_token",
        ),
    )
    add_location_options(dashboard)
    dashboard.set_defaults(
        handler=cmd_dashboard,
        build_settings=deferred("parallel_runs.cli.dashboard", "build_dashboard_settings"),
    )


class DashboardSettings(CommandSettings):
    """Everything `parallel-runs dashboard` needs."""

    where: RecordsLocation  # the shared store, else this machine's runs dir
    host: str
    port: int
    allow_cancel: bool
    token: str | None
    secrets: frozenset[str]  # redacted from every response


def is_loopback(host: str) -> bool:
    """True for an address (or `localhost`) that only this machine can reach."""
    import ipaddress

    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name: it may resolve to anything


def build_dashboard_settings(
    *, flags: Mapping[str, object], environ: Mapping[str, str], cwd: Path
) -> DashboardSettings:
    """Validate the `dashboard` flags: a token off loopback, cancel only over the shared store."""
    from parallel_runs.config.common import flag_bool, picker
    from parallel_runs.config.reading import records_location
    from parallel_runs.config.secrets import known_secrets

    where = records_location(flags, environ, cwd)
    where.check_runs_dir()
    pick = picker(
        flags,
        environ,
        skip_empty=True,
        env_keys={"token": "dashboard_token", "host": "dashboard_host", "port": "dashboard_port"},
    )
    host, port_text, token = pick("host") or DEFAULT_DASHBOARD_HOST, pick("port"), pick("token")
    port = DEFAULT_DASHBOARD_PORT if port_text is None else _port(port_text)
    if token is not None and len(token) < MIN_TOKEN_LENGTH:
        raise ConfigError(
            f"--token has {len(token)} characters, at least {MIN_TOKEN_LENGTH} are needed "
            "(python3 -c 'import secrets; print(secrets.token_urlsafe())' makes one)"
        )
    if token is None and not is_loopback(host):
        raise ConfigError(
            f"--host {host} is reachable from other machines: give --token (or "
            "PARALLEL_RUNS_DASHBOARD_TOKEN), which every request must then carry"
        )
    allow_cancel = flag_bool(flags, "allow_cancel", environ)
    if allow_cancel and not where.is_shared:
        raise ConfigError(
            "--allow-cancel needs --database-url: cancel stops a shared batch; a runs dir's batch stops "
            "with Ctrl-C in the process that runs it"
        )
    secrets = known_secrets(environ, urls=[where.database_url]) | {token or ""}
    return DashboardSettings(
        where=where, host=host, port=port, allow_cancel=allow_cancel, token=token, secrets=secrets - {""}
    )


def _port(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise ConfigError(f"--port {text[:40]} is not a port (0 to 65535)")
    return int(text)


def listen(host: str, port: int) -> socket.socket:
    """The listening socket, bound here so that a busy port is one line and exit 2."""
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def cmd_dashboard(settings: DashboardSettings, console: Console) -> int:
    """Serve until Ctrl-C (or SIGTERM); uvicorn finishes the requests in flight, then we return."""
    import contextlib
    import threading

    import uvicorn

    from parallel_runs.core.redaction import Redactor
    from parallel_runs.dashboard.app import create_app
    from parallel_runs.dashboard.context import Dashboard
    from parallel_runs.dashboard.source import Source
    from parallel_runs.store.opening import open_records

    sock = listen(settings.host, settings.port)
    where = settings.where
    with sock, open_records(where.place, store_file=where.store_file) as records:
        dashboard = Dashboard(
            source=Source(records),
            redact=Redactor(settings.secrets),
            database_url=where.database_url,
            allow_cancel=settings.allow_cancel,
            token=settings.token,
            loopback=is_loopback(settings.host),
            host=settings.host,
        )
        # Read every batch once now: a runs dir of 10,000 SQLite files takes seconds the first time,
        # then only the files that changed are read again (store/local_records.py).
        threading.Thread(target=dashboard.source.warm, name="warm-up", daemon=True).start()
        config = uvicorn.Config(create_app(dashboard), log_level="warning", lifespan="off", access_log=False)
        server = uvicorn.Server(config)
        bound_host, bound_port = sock.getsockname()[:2]
        shown = f"[{bound_host}]" if ":" in bound_host else bound_host
        mode = "cancel allowed" if settings.allow_cancel else "read-only"
        console.print(
            f"{PROG} dashboard of {records.where} at http://{shown}:{bound_port}/ ({mode}; Ctrl-C stops it)",
            markup=False,
        )
        # uvicorn passes on the Ctrl-C it handled: stopping is this command's normal end.
        with contextlib.suppress(KeyboardInterrupt):
            server.run(sockets=[sock])
    console.print(f"{PROG} dashboard stopped", markup=False)
    return EXIT_OK
