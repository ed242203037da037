"""`parallel-runs worker`: help work a batch of the shared PostgreSQL store from this machine."""

from __future__ import annotations

from parallel_runs.cli.common import EXIT_CODES_HELP, add_location_options, deferred
from parallel_runs.cli.run import cmd_run
from parallel_runs.cli.run_options import add_batch_options

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
    add_batch_options(worker, "worker")
    add_location_options(worker)
    # The same handler as `run`: a worker's settings hold no request, so it reads the batch from the store.
    worker.set_defaults(
        handler=cmd_run, build_settings=deferred("parallel_runs.config.run", "build_worker_run_settings")
    )
