"""`parallel-runs run`: execute a batch on this machine."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from rich.console import Console

from parallel_runs.cli.common import EXIT_CODES_HELP, add_location_options, env_help, write_traceback
from parallel_runs.config import build_run_settings
from parallel_runs.core.durations import format_duration
from parallel_runs.execution import HeldRun
from parallel_runs.supervisor import RunEnd, RunError, run_batch

__all__ = ["cmd_run", "register"]

DESCRIPTION = (
    "Run a batch of runs on this machine. The command runs in each run's worktree "
    "(branch parallel-runs/<slug>); its changes are committed there whatever the outcome. "
    "Placeholders {run_id} {slug} {workspace} {artifacts_dir} {batch_id} are replaced (shell-quoted). "
    "Give the command with --command 'CMD' (run by bash -c) or after -- as an argv."
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
    add(
        "--per-run-sqlite",
        action="store_true",
        help="record each run in its own SQLite file <runs dir>/<slug>/<slug>.db (the default)",
    )
    add_location_options(run)
    run.set_defaults(handler=cmd_run)


def _print_end(console: Console, end: RunEnd) -> None:
    if isinstance(end, HeldRun):
        console.print(f"[yellow]held[/]      {end.run_id}: {end.error}")
    elif isinstance(end, RunError):
        console.print(f"[red]error[/]     {end.run_id}: {end.message}")
    else:
        colour = "green" if end.outcome.is_success else "red"
        console.print(
            f"[{colour}]{end.outcome.value:<9}[/] {end.run_id} (attempt {end.attempt}, exit {end.exit_code}, "
            f"{format_duration(end.duration_seconds)}) → {end.branch}"
        )


def cmd_run(args: argparse.Namespace, console: Console) -> int:
    """Execute a batch here and print one line per run; the exit code follows DESIGN §6."""
    settings = build_run_settings(
        flags=vars(args), argv=args.command_argv, environ=os.environ, cwd=Path.cwd()
    )
    console.print(
        f"batch {settings.batch_id}: {len(settings.run_ids)} run(s), {settings.workers} worker(s), "
        f"runs dir {settings.runs_dir}"
    )
    batch = run_batch(settings, on_end=lambda end: _print_end(console, end))
    for error in batch.errors:
        if error.traceback:
            path = write_traceback(error.traceback)
            console.print(f"internal error in run {error.run_id}; traceback written to {path}")
    return batch.exit_code
