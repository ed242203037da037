"""`parallel-runs action prepare|main`: the steps of the GitHub Action (action.yml runs them).

The steps themselves are the package `github/action/`: inputs arrive in the environment
(`github/action/settings.py`); `prepare` masks the secrets and names the step's files and
artifacts; `main` does the mode's work: plan, run (one leg) or report.
"""

from __future__ import annotations

from parallel_runs.cli.common import EXIT_CODES_HELP, deferred

# typing.TYPE_CHECKING without importing typing: --help loads no more than it prints (see common.py).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from rich.console import Console

    from parallel_runs.github.action.settings import ActionSettings

__all__ = ["cmd_action", "register"]

DESCRIPTION = (
    "The steps of the GitHub Action (uses: autopack/parallel-runs@v1), run by its action.yml: "
    "`prepare` masks the secrets and names the files and artifacts, `main` plans, runs a leg or reports, "
    "as the input mode says. Every input comes from the environment that action.yml sets from it; see "
    "the README's GitHub Actions section."
)


def register(commands: Any) -> None:
    """Add the `action` command to the subparsers."""
    action = commands.add_parser("action", description=DESCRIPTION, epilog=EXIT_CODES_HELP)
    action.add_argument("step", choices=("prepare", "main"), help="which step of the action to run")
    action.set_defaults(
        handler=cmd_action,
        build_settings=deferred("parallel_runs.github.action.settings", "build_action_settings"),
    )


def cmd_action(settings: ActionSettings, console: Console) -> int:
    """Run one step of the action, the batch's log lines on `console`."""
    from parallel_runs.cli.progress import PlainProgress
    from parallel_runs.github.action.steps import run_step

    return run_step(settings, PlainProgress(console))
