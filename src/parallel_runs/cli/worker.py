"""`parallel-runs worker`: help work a batch of the shared PostgreSQL store from this machine."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from parallel_runs.cli.common import (
    EXIT_CODES_HELP,
    add_location_options,
    env_help,
    make_console,
    print_internal_errors,
)
from parallel_runs.cli.run import (
    add_output_options,
    add_shared_store_options,
    choose_progress,
    stop_on_signals,
)
from parallel_runs.config import DEFAULT_GRACE_SECONDS, build_worker_settings

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["cmd_worker", "register"]

DESCRIPTION = (
    "Claim runs of a batch from the shared PostgreSQL store and execute them here until none remain. "
    "The batch carries its command, test command, timeout, retries and base commit: nothing else is "
    "needed. Start as many workers on as many machines (clones of the repository) as you like; each run "
    "is executed once, and a dead worker's run is taken over when its lease expires."
)


def register(commands: Any) -> None:
    """Add the `worker` command to the subparsers."""
    worker = commands.add_parser(
        "worker", help="work a batch of the shared store", description=DESCRIPTION, epilog=EXIT_CODES_HELP
    )
    flag, store_true = worker.add_argument, {"action": "store_true", "default": None}
    for names, key, text, extra in (
        (("--batch",), "batch_id", "the batch to work", {"dest": "batch_id", "metavar": "ID"}),
        (("--database-url",), "database_url", "postgresql:// URL of the shared store", {"metavar": "URL"}),
        (("--workers",), "workers", "runs executing at once here (default: min(4, cores))", {"metavar": "N"}),
        (("--grace",), "grace", "time between SIGTERM and SIGKILL when stopping a run", {"metavar": "DUR"}),
        (("--keep-worktrees",), "keep_worktrees", "keep each worktree after its run", store_true),
        (("--test-timeout",), "test_timeout", "time limit of each test phase", {"metavar": "DUR"}),
        (("--test-retries",), "test_retries", "reruns of newly failing tests (default 1)", {"metavar": "N"}),
    ):
        flag(*names, help=env_help(text, key), **extra)
    flag(
        "--fail-on-regression",
        action=argparse.BooleanOptionalAction,
        default=None,
        help=env_help("a run that broke tests ends `regressed` (default on)", "fail_on_regression"),
    )
    add_output_options(worker)
    add_shared_store_options(worker)
    add_location_options(worker)
    worker.set_defaults(handler=cmd_worker)


def cmd_worker(args: argparse.Namespace, console: Console) -> int:
    """Work the batch until no run is left; the exit code follows DESIGN §6 for the runs done here."""
    from parallel_runs import batch as engine

    settings = build_worker_settings(flags=vars(args), environ=os.environ, cwd=Path.cwd())
    progress = choose_progress(args, console)
    control = engine.BatchControl(grace=settings.grace or DEFAULT_GRACE_SECONDS, on_event=progress)
    try:
        with stop_on_signals(control):
            batch = engine.run(settings, control)
    finally:
        progress.close()
    errors = make_console(stderr=True)
    print_internal_errors(errors, batch.errors)
    return batch.exit_code
