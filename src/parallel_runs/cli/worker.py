"""`parallel-runs worker`: help work a batch of the shared PostgreSQL store from this machine."""

from __future__ import annotations

import argparse

from parallel_runs.cli.common import EXIT_CODES_HELP, add_location_options, deferred, env_help
from parallel_runs.cli.run import add_output_options, add_pass_env_option, add_shared_store_options, cmd_run

# typing.TYPE_CHECKING without importing typing: --help loads no more than it prints (see common.py).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["register"]

DESCRIPTION = (
    "Claim runs of a batch from the shared PostgreSQL store and execute them here until none remain. "
    "The batch carries its command, test command, timeout, retries and base commit: nothing else is "
    "needed. Start as many workers on as many machines (clones of the repository) as you like; each run "
    "is executed once, and a dead worker's run is taken over when its lease expires."
)


def register(commands: Any) -> None:
    """Add the `worker` command to the subparsers."""
    worker = commands.add_parser("worker", description=DESCRIPTION, epilog=EXIT_CODES_HELP)
    flag, store_true = worker.add_argument, {"action": "store_true", "default": None}
    for names, key, text, extra in (
        (("--batch", "--batch-id"), "batch_id", "the batch to work", {"dest": "batch_id", "metavar": "ID"}),
        (("--database-url",), "database_url", "postgresql:// URL of the shared store", {"metavar": "URL"}),
        (("--workers",), "workers", "runs executing at once here (default: min(4, cores))", {"metavar": "N"}),
        (("--grace",), "grace", "time between SIGTERM and SIGKILL when stopping a run", {"metavar": "DUR"}),
        (("--keep-worktrees",), "keep_worktrees", "keep each worktree after its run", store_true),
        (("--test-timeout",), "test_timeout", "time limit of each test phase", {"metavar": "DUR"}),
        (("--test-retries",), "test_retries", "reruns of newly failing tests (default 1)", {"metavar": "N"}),
        (
            ("--wait",),
            "wait",
            "wait up to DUR for the batch to be enqueued and its database's schema created "
            "(start workers before `plan` or `run`)",
            {"metavar": "DUR"},
        ),
    ):
        flag(*names, help=env_help(text, key), **extra)
    flag(
        "--fail-on-regression",
        action=argparse.BooleanOptionalAction,
        default=None,
        help=env_help("a run that broke tests ends `regressed` (default on)", "fail_on_regression"),
    )
    add_output_options(worker)
    add_pass_env_option(worker)
    add_shared_store_options(worker)
    add_location_options(worker)
    # The same handler as `run`: the engine tells a batch to queue from one to work.
    worker.set_defaults(
        handler=cmd_run, build_settings=deferred("parallel_runs.config.worker", "build_worker_settings")
    )
