"""`parallel-runs logs`: one attempt's part of a run's run.log, from this machine or the shared store."""

from __future__ import annotations

import sys
import time

# The settings are NamedTuples, frozen records for the price of `typing` (some 5 ms at --help):
# dataclasses would load inspect as well (some 20 ms of a start-up bench/startup.py holds to 3x).
from typing import TYPE_CHECKING, NamedTuple

from parallel_runs.cli.common import (
    PROG,
    add_batch_option,
    add_location_options,
    deferred,
    env_help,
    exit_codes_help,
    make_console,
)
from parallel_runs.errors import EXIT_OK, NotFoundError

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path
    from typing import Any, BinaryIO

    from rich.console import Console

    from parallel_runs.config.reading import RecordsLocation
    from parallel_runs.store.records import AttemptRunning, Records, RunLog

__all__ = ["LogsSettings", "build_logs_settings", "cmd_logs", "register"]

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
        handler=cmd_logs, build_settings=deferred("parallel_runs.cli.logs", "build_logs_settings")
    )


def _follow_until_stored(records: Records, settings: LogsSettings, running: AttemptRunning) -> RunLog:
    """The log once the attempt ended elsewhere (it is stored then); only --follow waits for that."""
    from parallel_runs.core.model import Outcome

    if not settings.follow:
        raise NotFoundError(f"{running}: its run.log is stored when it ends (--follow waits for that)")
    make_console(stderr=True).print(f"{PROG}: {running}; waiting for it to end", markup=False)
    number = running.attempt.attempt
    while True:
        time.sleep(max(1.0, settings.poll_seconds))
        found = [a for a in records.run_attempts(settings.run_id) if a.attempt == number]
        if found and found[0].outcome is not Outcome.RUNNING:
            return records.run_log(settings.run_id, batch_id=found[0].batch_id, attempt=number)


def _print(records: Records, settings: LogsSettings, out: BinaryIO) -> None:
    from parallel_runs.core.runlog import log_parts
    from parallel_runs.log_reader import choose_part, write_part
    from parallel_runs.store.records import AttemptRunning

    try:
        log = records.run_log(settings.run_id, batch_id=settings.batch_id, attempt=settings.attempt)
    except AttemptRunning as running:
        log = _follow_until_stored(records, settings, running)
    with log.stream as stream:
        parts = log_parts(stream)
        part = choose_part(parts, log.attempt)
        if part is None:
            has = ", ".join(str(p.attempt) for p in parts if p.attempt is not None) or "none"
            asked = "output yet" if log.attempt is None else f"attempt {log.attempt}"
            raise NotFoundError(f"run.log of run {settings.run_id!r} has no {asked} (it has: {has})")
        is_over = log.watch(part.attempt) if settings.follow else (lambda: True)
        write_part(stream, part, out, is_over=is_over, poll=settings.poll_seconds)


def cmd_logs(settings: LogsSettings, console: Console) -> int:
    """Print the attempt's part of run.log (following it with --follow)."""
    from parallel_runs.store.opening import open_records

    with open_records(settings.where.place, store_file=settings.where.store_file) as records:
        _print(records, settings, sys.stdout.buffer)
    return EXIT_OK


class LogsSettings(NamedTuple):
    """Everything `parallel-runs logs` needs."""

    where: RecordsLocation  # the shared store, else this machine's runs dir
    run_id: str
    attempt: int | None  # None: the latest attempt (in `batch_id`, if given)
    batch_id: str | None
    follow: bool  # keep printing until the attempt ends
    poll_seconds: float = 0.2  # how often a followed log is looked at again


def build_logs_settings(
    *, flags: Mapping[str, object], environ: Mapping[str, str], cwd: Path
) -> LogsSettings:
    """Validate the `logs` flags."""
    from parallel_runs.config.common import flag_bool, picker
    from parallel_runs.config.reading import parse_attempt, records_location

    return LogsSettings(
        where=records_location(flags, environ, cwd),
        run_id=str(flags["run_id"]),
        attempt=parse_attempt(flags, environ, env_key="logs_attempt"),
        batch_id=picker(flags, environ, skip_empty=True)("batch"),
        follow=flag_bool(flags, "follow", environ),
    )
