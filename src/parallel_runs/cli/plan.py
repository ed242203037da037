"""`parallel-runs plan`: split a batch over the legs of a GitHub Actions matrix."""

from __future__ import annotations

import sys

from parallel_runs.cli.common import add_location_options, deferred, exit_codes_help
from parallel_runs.cli.run_options import add_batch_options
from parallel_runs.errors import EXIT_OK

# typing.TYPE_CHECKING without importing typing: --help loads no more than it prints (see common.py).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from rich.console import Console

    from parallel_runs.config.plan import PlanSettings


__all__ = ["cmd_plan", "register"]

DESCRIPTION = (
    "Expand the run ids into the legs of a GitHub Actions matrix and print the step outputs matrix, "
    "batch-id, run-count, base-sha and legs as NAME=VALUE lines. With --database-url (PostgreSQL) the "
    "batch is queued there as `run` would queue it (so the run options apply; an empty database gets the "
    "schema first, one that is behind is upgraded) and every leg is a `worker` "
    "that claims runs until none remain; without, leg K of N runs `run --shard K/N` with the same ids. "
    "The matrix holds leg numbers only, so it stays small for any number of ids."
)


def register(commands: Any) -> None:
    """Add the `plan` command to the subparsers."""
    plan = commands.add_parser(
        "plan",
        description=DESCRIPTION,
        epilog=exit_codes_help({0: "the legs were planned (and, with a database, the batch queued)"}),
    )
    add_batch_options(plan, "plan")
    add_location_options(plan)
    plan.set_defaults(
        handler=cmd_plan, build_settings=deferred("parallel_runs.config.plan", "build_plan_settings")
    )


def cmd_plan(settings: PlanSettings, console: Console) -> int:
    """Plan the legs, print the outputs (and write them to $GITHUB_OUTPUT with --github-output)."""
    from parallel_runs.batch.planning import plan_batch  # the engine only once the flags are valid

    outputs = plan_batch(settings).outputs()
    for name, value in outputs.items():
        sys.stdout.write(f"{name}={value}\n")
    if settings.github_output is not None:
        from parallel_runs.github.files import write_outputs

        write_outputs(settings.github_output, outputs)
    return EXIT_OK
