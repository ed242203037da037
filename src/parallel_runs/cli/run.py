"""`parallel-runs run`: execute a batch on this machine."""

from __future__ import annotations

import sys
from contextlib import contextmanager

from parallel_runs.cli.common import (
    EXIT_CODES_HELP,
    add_location_options,
    deferred,
    env_help,
    make_console,
    print_internal_errors,
)
from parallel_runs.cli.run_options import RUN_OPTIONS, STORE_OPTIONS
from parallel_runs.core.defaults import DEFAULT_GRACE_SECONDS, PLACEHOLDERS

# typing.TYPE_CHECKING without importing typing: --help loads no more than it prints (see common.py).
TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Iterator
    from types import FrameType
    from typing import Any

    from rich.console import Console

    from parallel_runs.batch.control import BatchControl
    from parallel_runs.cli.progress import Progress
    from parallel_runs.config.run import RunSettings
    from parallel_runs.config.worker import WorkerSettings

__all__ = [
    "RUN_OPTIONS",
    "add_output_options",
    "add_pass_env_option",
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
    f"Placeholders {_TOKENS} are replaced (shell-quoted); any other {{word}} is refused: write "
    "{{word}} for a literal {word}. "
    "Give the command with --command 'CMD' (run by bash -c) or after -- as an argv. "
    "Runs whose latest attempt succeeded are skipped unless --redo. Ctrl-C stops the batch cleanly "
    "(a second Ctrl-C skips the grace period); every run's changes are saved either way."
)


def register(commands: Any) -> None:
    """Add the `run` command to the subparsers."""
    run = commands.add_parser("run", description=DESCRIPTION, epilog=EXIT_CODES_HELP)
    for flags, key, text, extra in RUN_OPTIONS:
        names = flags if isinstance(flags, tuple) else (flags,)
        run.add_argument(*names, help=env_help(text, key), **extra)
    store = run.add_mutually_exclusive_group()
    for flag, key, text, extra in STORE_OPTIONS:
        store.add_argument(flag, help=env_help(text, key), **extra)
    add_output_options(run)
    add_pass_env_option(run)
    add_shared_store_options(run)
    add_location_options(run)
    run.set_defaults(
        handler=cmd_run, build_settings=deferred("parallel_runs.config.run", "build_run_settings")
    )


def add_output_options(parser: argparse.ArgumentParser) -> None:
    """--quiet and --json-events: how `run` and `worker` show a batch (live view on a terminal otherwise)."""
    for names, key, text in (
        (("--quiet", "-q"), "quiet", "print only problems and the final summary"),
        (("--json-events",), "json_events", "print one JSON object per event on stdout instead of text"),
    ):
        parser.add_argument(*names, action="store_true", default=None, help=env_help(text, key))


def add_pass_env_option(parser: argparse.ArgumentParser) -> None:
    """--pass-env: what `run` and `worker` pass to runs that runs do not get by default."""
    parser.add_argument(
        "--pass-env",
        action="append",
        metavar="NAME[,NAME]",
        help=env_help(
            "give the runs these variables, which they do not get otherwise: GITHUB_TOKEN, GH_TOKEN, "
            "ACTIONS_*, the runner's GITHUB_OUTPUT, GITHUB_ENV, GITHUB_PATH, GITHUB_STEP_SUMMARY and "
            "GITHUB_STATE, and the store's password (PARALLEL_RUNS_DATABASE_URL is given without it); "
            "repeatable. Their values are still hidden in every report",
            "pass_env",
        ),
    )


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


def choose_progress(machine: WorkerSettings, console: Console) -> Progress:
    """Live on a terminal, a line per event otherwise; --quiet and --json-events (or their env) choose."""
    from parallel_runs.cli.live import LiveProgress
    from parallel_runs.cli.progress import JsonEvents, PlainProgress

    if machine.json_events:
        return JsonEvents(sys.stdout)
    if machine.quiet:
        return PlainProgress(console, quiet=True)
    if console.is_terminal:
        return LiveProgress(console)
    return PlainProgress(console)


@contextmanager
def stop_on_signals(control: BatchControl) -> Iterator[None]:
    """SIGINT and SIGTERM ask the batch to stop (twice: stop now) instead of killing this process."""
    import signal
    import threading

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


def _dry_run(settings: RunSettings, console: Console) -> int:
    """Print what `run` would do with each run id; change nothing."""
    from parallel_runs import batch as engine

    verdicts = engine.preview(settings)
    for seen in verdicts:
        console.print(f"would {seen.verdict:<5} {seen.run_id}: {seen.reason}", markup=False, highlight=False)
    counts: dict[str, int] = {}
    for seen in verdicts:
        counts[seen.verdict] = counts.get(seen.verdict, 0) + 1
    said = ", ".join(f"{n} {verdict}" for verdict, n in counts.items())
    console.print(f"dry run of batch {settings.batch_id}: {said}; nothing was changed", markup=False)
    return 0


def cmd_run(settings: RunSettings | WorkerSettings, console: Console) -> int:
    """Work the batch here (`run` queues it first), showing progress; the exit code follows CONTRACTS §6."""
    from parallel_runs import batch as engine
    from parallel_runs.config.run import RunSettings

    if isinstance(settings, RunSettings) and settings.dry_run:
        return _dry_run(settings, console)
    machine = settings.worker if isinstance(settings, RunSettings) else settings
    errors = make_console(stderr=True)
    for warning in machine.warnings:
        errors.print(f"[yellow]warning[/]: {warning}")
    progress = choose_progress(machine, console)
    # The batch's own grace replaces this one once the batch is read from its store.
    control = engine.BatchControl(grace=DEFAULT_GRACE_SECONDS, on_event=progress)
    try:
        with stop_on_signals(control):
            batch = engine.run(settings, control)
    finally:
        progress.close()
    print_internal_errors(errors, batch.errors)
    return batch.exit_code
