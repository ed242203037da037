"""`parallel-runs run`: execute a batch on this machine."""

from __future__ import annotations

import sys

from parallel_runs.cli.common import (
    EXIT_CODES_HELP,
    add_location_options,
    deferred,
    make_console,
    print_internal_errors,
)
from parallel_runs.cli.run_options import add_batch_options
from parallel_runs.core.defaults import DEFAULT_GRACE_SECONDS, PLACEHOLDERS

# typing.TYPE_CHECKING without importing typing: --help loads no more than it prints (see common.py).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from rich.console import Console

    from parallel_runs.cli.progress import Progress
    from parallel_runs.config.run import RunSettings
    from parallel_runs.config.worker import WorkerSettings
    from parallel_runs.core.batch import BatchRequest

__all__ = [
    "choose_progress",
    "cmd_run",
    "register",
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
    add_batch_options(run, "run")
    add_location_options(run)
    run.set_defaults(
        handler=cmd_run, build_settings=deferred("parallel_runs.config.run", "build_run_settings")
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


def _dry_run(request: BatchRequest, machine: WorkerSettings, console: Console) -> int:
    """Print what `run` would do with each run id; change nothing."""
    from parallel_runs import batch as engine

    verdicts = engine.preview(request, machine)
    for seen in verdicts:
        console.print(f"would {seen.verdict:<5} {seen.run_id}: {seen.reason}", markup=False, highlight=False)
    counts: dict[str, int] = {}
    for seen in verdicts:
        counts[seen.verdict] = counts.get(seen.verdict, 0) + 1
    said = ", ".join(f"{n} {verdict}" for verdict, n in counts.items())
    console.print(f"dry run of batch {request.batch_id}: {said}; nothing was changed", markup=False)
    return 0


def cmd_run(settings: RunSettings, console: Console) -> int:
    """Work the batch here (`run` queues it first), showing progress; the exit code follows CONTRACTS §6."""
    from parallel_runs import batch as engine

    request, machine = settings.request, settings.machine
    if request is not None and settings.dry_run:
        return _dry_run(request, machine, console)
    errors = make_console(stderr=True)
    for warning in machine.warnings:
        errors.print(f"[yellow]warning[/]: {warning}")
    progress = choose_progress(machine, console)
    # The batch's own grace replaces this one once the batch is read from its store.
    control = engine.BatchControl(grace=DEFAULT_GRACE_SECONDS, on_event=progress)
    try:
        with engine.stop_on_signals(control):
            batch = engine.run(request, machine, control)
    finally:
        progress.close()
    print_internal_errors(errors, batch.errors)
    return batch.exit_code
