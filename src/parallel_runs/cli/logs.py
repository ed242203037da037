"""`parallel-runs logs`: one attempt's part of a run's run.log, from this machine or the shared store."""

from __future__ import annotations

import io
import sys
import time

from parallel_runs.cli.common import (
    PROG,
    add_batch_option,
    add_location_options,
    deferred,
    env_help,
    exit_codes_help,
    make_console,
    not_found_here,
)
from parallel_runs.errors import EXIT_OK, NotFoundError

# typing.TYPE_CHECKING without importing typing: --help loads no more than it prints (see common.py).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, BinaryIO

    from rich.console import Console

    from parallel_runs.config.logs import LogsSettings
    from parallel_runs.core.model import Attempt
    from parallel_runs.store import SharedStore

__all__ = ["cmd_logs", "register"]

EXIT_CODES = exit_codes_help(
    {
        0: "printed (with --follow: once the attempt ended)",
        2: "usage error, or no such run or attempt",
        130: "interrupted",
    }
)
DESCRIPTION = (
    "Print one attempt's part of a run's output (run.log: the command's output, then its tests'), header "
    "line included: the latest attempt, or --attempt N, or the latest in --batch ID. Read from this "
    "machine's runs dir, or with --database-url from the shared store (where an attempt's log is stored "
    "when it ends). --follow keeps printing new lines until the attempt ends."
)


def register(commands: Any) -> None:
    """Add the `logs` command to the subparsers."""
    logs = commands.add_parser("logs", description=DESCRIPTION, epilog=EXIT_CODES)
    logs.add_argument("run_id", metavar="RUN", help="the run id")
    logs.add_argument(
        "--attempt", metavar="N", help=env_help("this attempt's part (default: the latest)", "logs_attempt")
    )
    logs.add_argument(
        "--follow",
        "-f",
        action="store_true",
        default=None,
        help=env_help("keep printing new lines until the attempt ends", "follow"),
    )
    add_batch_option(logs, "the run's latest attempt in this batch")
    logs.add_argument(
        "--database-url",
        metavar="URL",
        help=env_help("read the shared PostgreSQL store instead of the runs dir", "database_url"),
    )
    add_location_options(logs)
    logs.set_defaults(
        handler=cmd_logs, build_settings=deferred("parallel_runs.config.logs", "build_logs_settings")
    )


def _print_local(settings: LogsSettings, out: BinaryIO) -> None:
    from parallel_runs.core.runlog import log_parts
    from parallel_runs.log_reader import attempt_is_over, choose_part, write_part
    from parallel_runs.store.local_artifacts import choose_attempt, local_attempts, local_paths

    run_id, runs_dir, attempt = settings.run_id, settings.where.local_runs_dir, settings.attempt
    paths = local_paths(runs_dir, run_id)
    if paths is None or not paths.run_log.is_file():
        raise not_found_here(f"no such run {run_id!r}", runs_dir)
    if settings.batch_id is not None:
        attempts = local_attempts(paths, run_id)
        chosen = choose_attempt(attempts, run_id=run_id, batch_id=settings.batch_id, attempt=attempt)
        if chosen is None:
            raise NotFoundError(f"run {run_id!r} has no record of its attempts in {paths.database}")
        attempt = chosen.attempt
    with paths.run_log.open("rb") as stream:
        parts = log_parts(stream)
        part = choose_part(parts, attempt)
        if part is None:
            has = ", ".join(str(p.attempt) for p in parts if p.attempt is not None) or "none"
            raise NotFoundError(f"run.log of run {run_id!r} has no attempt {attempt} (it has: {has})")
        is_over = attempt_is_over(paths, part.attempt) if settings.follow else (lambda: True)
        write_part(stream, part, out, is_over=is_over, poll=settings.poll_seconds)


def _shared_attempt(store: SharedStore, settings: LogsSettings, *, attempt: int | None) -> Attempt:
    from parallel_runs.store.local_artifacts import choose_attempt

    found = store.run_attempts(settings.run_id)
    chosen = choose_attempt(found, run_id=settings.run_id, batch_id=settings.batch_id, attempt=attempt)
    if chosen is None:
        raise NotFoundError(f"no such run {settings.run_id!r} in the shared store")
    return chosen


def _wait_until_stored(store: SharedStore, settings: LogsSettings, chosen: Attempt) -> Attempt:
    """The attempt once it ended (its log is stored then); only --follow waits for that."""
    from parallel_runs.core.model import Outcome

    if chosen.outcome is not Outcome.RUNNING:
        return chosen
    where = f"attempt {chosen.attempt} of run {settings.run_id!r} is running on {chosen.host}"
    if not settings.follow:
        raise NotFoundError(f"{where}: its run.log is stored when it ends (--follow waits for that)")
    make_console(stderr=True).print(f"{PROG}: {where}; waiting for it to end", markup=False)
    number = chosen.attempt
    while True:
        time.sleep(max(1.0, settings.poll_seconds))
        ended = _shared_attempt(store, settings, attempt=number)
        if ended.outcome is not Outcome.RUNNING:
            return ended


def _print_shared(settings: LogsSettings, url: str, out: BinaryIO) -> None:
    from parallel_runs.core.runlog import log_parts
    from parallel_runs.log_reader import choose_part, write_part
    from parallel_runs.store import SharedStore

    with SharedStore.connect(url) as store:
        chosen = _shared_attempt(store, settings, attempt=settings.attempt)
        chosen = _wait_until_stored(store, settings, chosen)
        data = store.read_artifact(
            settings.run_id, "run.log", batch_id=chosen.batch_id, attempt=chosen.attempt
        )
    stream = io.BytesIO(data)
    parts = log_parts(stream)
    # The stored run.log may hold earlier attempts too: print this attempt's part.
    part = choose_part(parts, chosen.attempt) or choose_part(parts, None)
    if part is not None:
        write_part(stream, part, out)


def cmd_logs(settings: LogsSettings, console: Console) -> int:
    """Print the attempt's part of run.log (following it with --follow)."""
    out = sys.stdout.buffer
    url = settings.where.database_url
    if url is None:
        _print_local(settings, out)
    else:
        _print_shared(settings, url, out)
    return EXIT_OK
