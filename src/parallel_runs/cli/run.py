"""`parallel-runs run`: execute a batch on this machine."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from parallel_runs.cli.common import (
    EXIT_CODES_HELP,
    add_location_options,
    env_help,
    make_console,
    print_internal_errors,
)
from parallel_runs.config import build_run_settings, flag_bool
from parallel_runs.core.command import PLACEHOLDERS

if TYPE_CHECKING:
    from rich.console import Console

    from parallel_runs.batch.control import BatchControl
    from parallel_runs.cli.progress import Progress

__all__ = [
    "add_output_options",
    "add_shared_store_options",
    "choose_progress",
    "cmd_run",
    "register",
    "stop_on_signals",
]

_TOKENS = " ".join(f"{{{name}}}" for name in PLACEHOLDERS)
DESCRIPTION = (
    "Run a batch of runs on this machine. The command runs in each run's worktree "
    "(branch parallel-runs/<slug>); its changes are committed there whatever the outcome. "
    f"Placeholders {_TOKENS} are replaced (shell-quoted). "
    "Give the command with --command 'CMD' (run by bash -c) or after -- as an argv. "
    "Runs whose latest attempt succeeded are skipped unless --redo. Ctrl-C stops the batch cleanly "
    "(a second Ctrl-C skips the grace period); every run's changes are saved either way."
)


def register(commands: Any) -> None:
    """Add the `run` command to the subparsers."""
    run = commands.add_parser("run", help="run a batch here", description=DESCRIPTION, epilog=EXIT_CODES_HELP)
    add = run.add_argument
    add(
        "--run-ids",
        action="append",
        metavar="IDS",
        help=env_help(
            "run ids, separated by commas/whitespace; brace ranges exp-{001..20} and lists x-{a,b} expand; "
            "repeatable",
            "run_ids",
        ),
    )
    add(
        "--run-ids-file",
        action="append",
        metavar="FILE",
        help=env_help("file with one run id per line (# comments); repeatable", "run_ids_file"),
    )
    add("--workers", metavar="N", help=env_help("runs executing at once (default: min(4, cores))", "workers"))
    add("--command", metavar="CMD", help=env_help("shell command run by bash -c in each worktree", "command"))
    add(
        "--timeout",
        metavar="DUR",
        help=env_help(
            "per-attempt time limit, e.g. 90s, 30m, 1h30m; the run's whole process group is stopped",
            "timeout",
        ),
    )
    add(
        "--grace",
        metavar="DUR",
        help=env_help("time between SIGTERM and SIGKILL when stopping a run (default 10s)", "grace"),
    )
    add(
        "--retries",
        metavar="N",
        help=env_help(
            "new attempts for a run that failed, timed out or was abandoned (not for cancelled); default 0",
            "retries",
        ),
    )
    add("--retry-delay", metavar="DUR", help=env_help("wait before each retry (default 0)", "retry_delay"))
    add(
        "--redo",
        action="store_true",
        default=None,
        help=env_help("run again runs whose latest attempt succeeded (default: skip them)", "redo"),
    )
    add(
        "--only-failed",
        action="store_true",
        default=None,
        help=env_help("run only runs whose latest attempt did not succeed", "only_failed"),
    )
    add(
        "--max-batch-time",
        metavar="DUR",
        help=env_help(
            "budget for the whole batch: when reached, nothing new starts and running runs are cancelled",
            "max_batch_time",
        ),
    )
    add(
        "--test-command",
        metavar="CMD",
        help=env_help(
            "after the command, run this test command at the base commit (once per batch, cached) and in the "
            "run's worktree; it must write JUnit XML to $PARALLEL_RUNS_JUNIT ({junit}); pytest gets "
            "--junitxml added",
            "test_command",
        ),
    )
    add("--test-timeout", metavar="DUR", help=env_help("time limit of each test phase", "test_timeout"))
    add(
        "--test-retries",
        metavar="N",
        help=env_help(
            "reruns of newly failing tests to tell flaky from persistent (default 1)", "test_retries"
        ),
    )
    add(
        "--fail-on-regression",
        action=argparse.BooleanOptionalAction,
        default=None,
        help=env_help(
            "a run whose command exited 0 but broke tests ends `regressed` (default on with --test-command)",
            "fail_on_regression",
        ),
    )
    add(
        "--keep-worktrees",
        action="store_true",
        default=None,
        help=env_help(
            "keep each worktree after its run (changes are committed either way)", "keep_worktrees"
        ),
    )
    add("--base-ref", metavar="REF", help=env_help("commit every run starts from (default HEAD)", "base_ref"))
    add(
        "--batch-id",
        metavar="ID",
        help=env_help(
            "name of this batch (default gh-<run>-<attempt> in Actions, else a UTC timestamp)", "batch_id"
        ),
    )
    store = run.add_mutually_exclusive_group()
    store.add_argument(
        "--per-run-sqlite",
        action="store_true",
        default=None,
        help=env_help(
            "record each run in its own SQLite file <runs dir>/<slug>/<slug>.db (the default)",
            "per_run_sqlite",
        ),
    )
    store.add_argument(
        "--database-url",
        metavar="URL",
        help=env_help(
            "record into this store instead: a shared PostgreSQL store (postgresql://...: the batch is "
            "enqueued there and any number of `worker`s on other machines may help), or sqlite:///FILE "
            "with --workers 1; also DATABASE_URL",
            "database_url",
        ),
    )
    add_output_options(run)
    add_shared_store_options(run)
    add_location_options(run)
    run.set_defaults(handler=cmd_run)


def add_output_options(parser: argparse.ArgumentParser) -> None:
    """--quiet and --json-events: how `run` and `worker` show a batch (live view on a terminal otherwise)."""
    for names, key, text in (
        (("--quiet", "-q"), "quiet", "print only problems and the final summary"),
        (("--json-events",), "json_events", "print one JSON object per event on stdout instead of text"),
    ):
        parser.add_argument(*names, action="store_true", default=None, help=env_help(text, key))


def add_shared_store_options(parser: argparse.ArgumentParser) -> None:
    """Options of runs claimed from the shared PostgreSQL store (run --database-url, worker)."""
    parser.add_argument(
        "--lease-ttl",
        metavar="DUR",
        help=env_help(
            "how long a claim lives without a heartbeat (renewed every TTL/3); a dead worker's run is taken "
            "over after it (default 60s)",
            "lease_ttl",
        ),
    )
    parser.add_argument(
        "--max-artifact-size",
        metavar="SIZE",
        help=env_help(
            "largest artifact file stored in the database, e.g. 50MiB (default); bigger ones are recorded as "
            "skipped",
            "max_artifact_size",
        ),
    )


def choose_progress(args: argparse.Namespace, console: Console) -> Progress:
    """Live on a terminal, a line per event otherwise; --quiet and --json-events (or their env) choose."""
    from parallel_runs.cli.progress import JsonEvents, LiveProgress, PlainProgress

    def flag(key: str) -> bool:
        return flag_bool(vars(args), key, os.environ)

    if flag("json_events"):
        return JsonEvents(sys.stdout)
    if flag("quiet"):
        return PlainProgress(console, quiet=True)
    if console.is_terminal:
        return LiveProgress(console)
    return PlainProgress(console)


@contextmanager
def stop_on_signals(control: BatchControl) -> Iterator[None]:
    """SIGINT and SIGTERM ask the batch to stop (twice: stop now) instead of killing this process."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handle(signum: int, frame: FrameType | None) -> None:
        control.request_stop("interrupted")

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def cmd_run(args: argparse.Namespace, console: Console) -> int:
    """Execute a batch here, showing progress; the exit code follows DESIGN §6."""
    from parallel_runs import batch as engine

    settings = build_run_settings(
        flags=vars(args), argv=args.command_argv, environ=os.environ, cwd=Path.cwd()
    )
    errors = make_console(stderr=True)
    for warning in settings.warnings:
        errors.print(f"[yellow]warning[/]: {warning}")
    progress = choose_progress(args, console)
    control = engine.BatchControl(grace=settings.grace, on_event=progress)
    try:
        with stop_on_signals(control):
            batch = engine.run(settings, control)
    finally:
        progress.close()
    print_internal_errors(errors, batch.errors)
    return batch.exit_code
